package fastproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// TestPOSTAfterTheBackendClosedItsIdleConnection: a backend that closes
// keep-alive connections after a short idle time (gunicorn's default is
// 2 s) must not turn the next POST into a 502. The proxy may not resend a
// POST that failed on a dead connection, so it must not send it into one:
// each POST here follows a pause longer than the backend's idle timeout,
// and each must reach the backend once and be answered by it, over plain
// HTTP and TLS.
func TestPOSTAfterTheBackendClosedItsIdleConnection(t *testing.T) {
	const idle, rounds = 300 * time.Millisecond, 4
	handler := func(hits *atomic.Int32) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, "got "+string(b))
		}
	}
	var plainHits, tlsHits atomic.Int32
	plain := pathStartOrigin(t, handler(&plainHits), func(s *http.Server) { s.IdleTimeout = idle })
	tlsOrigin := httptest.NewUnstartedServer(handler(&tlsHits))
	tlsOrigin.Config.IdleTimeout = idle
	tlsOrigin.StartTLS()
	t.Cleanup(tlsOrigin.Close)

	for _, tc := range []struct {
		name    string
		backend configs.Backend
		hits    *atomic.Int32
	}{
		{"http", configs.Backend{URL: plain.URL}, &plainHits},
		{"https", configs.Backend{URL: tlsOrigin.URL, SkipTLSVerify: true}, &tlsHits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
				pathService("", configs.Location{Path: "/", Backends: []configs.Backend{tc.backend}}),
			}}, Options{Logger: edgeTestLogger()})
			for i := range rounds {
				if i > 0 {
					time.Sleep(2 * idle) // the backend closes the pooled connection
				}
				resp, body := pathDo(t, px, "POST", "h", "/", strings.NewReader("x"), nil)
				if resp.StatusCode != 200 || body != "got x" {
					t.Fatalf("POST %d after a pause: %d %q, want the backend's answer", i+1, resp.StatusCode, body)
				}
			}
			if n := tc.hits.Load(); n != rounds {
				t.Errorf("the backend got %d POSTs, want %d", n, rounds)
			}
		})
	}
}
