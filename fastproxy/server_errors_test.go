package fastproxy

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestEdgeErrorStatus: fasthttp's read errors, however wrapped, map to the
// status the edge answers them with.
func TestEdgeErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		desc string
		err  error
		want int
	}{
		{"head over the read buffer", fmt.Errorf("error when reading request headers: %w", &fasthttp.ErrSmallBuffer{}), 431},
		{"body over the limit", fasthttp.ErrBodyTooLarge, 413},
		{"client too slow", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), 408},
		{"malformed head", errors.New("cannot find whitespace in the first line of request"), 400},
		{"truncated body", fmt.Errorf("body: %w", errors.New("unexpected EOF")), 400},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := edgeErrorStatus(tc.err); got != tc.want {
				t.Fatalf("edgeErrorStatus(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

// TestEdgeFastLoggerLevels: fasthttp's per-client noise goes to Debug,
// everything else to Warn.
func TestEdgeFastLoggerLevels(t *testing.T) {
	for _, tc := range []struct {
		desc, format string
		want         string
	}{
		{"client read error", "error when serving connection %q<->%q: %v", "level=DEBUG"},
		{"Body() on a stream", "WARNING: Request.Body() reads the entire stream into memory. Use Request.BodyStream()", "level=DEBUG"},
		{"accept error", "Permanent error when accepting new connections: %v", "level=WARN"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var out bytes.Buffer
			l := edgeFastLogger{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			l.Printf(tc.format, "a", "b", errors.New("boom"))
			if !strings.Contains(out.String(), tc.want) || !strings.Contains(out.String(), "fasthttp: ") {
				t.Fatalf("logged %q, want %s", out.String(), tc.want)
			}
		})
	}
}
