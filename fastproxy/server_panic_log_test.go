package fastproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// lockedBuffer is a log sink shared by the server's goroutines and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// TestServerLogsAPanicWithItsStack: the 500 a panic gets is logged once,
// at Error, with the panic value, the request and the stack down to the
// function that panicked.
func TestServerLogsAPanicWithItsStack(t *testing.T) {
	o := edgeStartOrigin(t, nil)
	var logs lockedBuffer
	s, err := New(edgeConfig(o.URL, nil), Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.wrap = func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) { panicForTheLogTest() }
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	c := edgeDial(t, edgeAddr(t, s))
	io.WriteString(c, "GET /boom?x=1 HTTP/1.1\r\nHost: a.test\r\n\r\n")
	if resp, _ := edgeRead(t, bufio.NewReader(c), "GET"); resp.StatusCode != 500 {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}

	var entry map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var e map[string]any
		if json.Unmarshal(line, &e) == nil && e["level"] == "ERROR" && strings.Contains(e["msg"].(string), "panic") {
			if entry != nil {
				t.Fatal("the panic was logged twice")
			}
			entry = e
		}
	}
	if entry == nil {
		t.Fatalf("no error line for the panic in:\n%s", logs.Bytes())
	}
	stack, _ := entry["stack"].(string)
	if entry["panic"] != "boom for the log test" || entry["uri"] != "/boom?x=1" ||
		!strings.Contains(stack, "panicForTheLogTest") {
		t.Errorf("panic log line lacks the value, the request or the stack: %v", entry)
	}
}

func panicForTheLogTest() { panic("boom for the log test") }
