package fastproxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

func TestBackendFailuresMapToStatus(t *testing.T) {
	closesWithoutAnswer := pathRawOrigin(t, func(c net.Conn) {
		pathReadHead(bufio.NewReader(c))
	})
	stop := make(chan struct{})
	sleeps := pathRawOrigin(t, func(c net.Conn) {
		pathReadHead(bufio.NewReader(c))
		select {
		case <-stop:
		case <-time.After(5 * time.Second):
		}
	})
	t.Cleanup(func() { close(stop) }) // before the origin's own cleanup waits for it
	tests := []struct {
		desc       string
		backends   []string
		wantStatus int
		retryAfter bool
	}{
		{"closed port is 502", []string{pathClosedURL(t)}, 502, false},
		{"origin closing without answering is 502", []string{closesWithoutAnswer}, 502, false},
		{"origin past backend_response is 504", []string{sleeps}, 504, false},
		{"no backend is 503 with Retry-After", nil, 503, true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			zero := 0
			cfg := &configs.Config{
				Services: []configs.Service{pathService("", pathLoc("/", tc.backends...))},
				Timeouts: configs.Timeouts{BackendResponse: configs.Duration(300 * time.Millisecond)},
				Retry:    configs.Retry{Attempts: &zero},
			}
			px := pathStartProxy(t, cfg, Options{})
			start := time.Now()
			resp, body := pathDo(t, px, "GET", "h", "/", nil, nil)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if !strings.HasPrefix(body, http.StatusText(tc.wantStatus)[:3]) && !strings.Contains(body, "backend") {
				t.Errorf("body %q does not explain the error", body)
			}
			if got := resp.Header.Get("Retry-After") != ""; got != tc.retryAfter {
				t.Errorf("Retry-After present %v, want %v", got, tc.retryAfter)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestResponsesWithoutBody(t *testing.T) {
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", o.URL))}}, Options{})
	tests := []struct {
		desc, method, path string
		status             int
	}{
		{"HEAD", "HEAD", "/", 200},
		{"204", "GET", "/204", 204},
		{"304", "GET", "/304", 304},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			// A body sent by mistake would corrupt the second response on
			// the same connection.
			raw := tc.method + " " + tc.path + " HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"
			rs := pathRaw(t, px.Addr, raw, tc.method, "GET")
			if rs[0].StatusCode != tc.status {
				t.Errorf("status %d, want %d", rs[0].StatusCode, tc.status)
			}
			if b, _ := readAllString(rs[0]); b != "" {
				t.Errorf("body %q", b)
			}
			if b, _ := readAllString(rs[1]); rs[1].StatusCode != 200 || b != "hello" {
				t.Errorf("next response %d %q", rs[1].StatusCode, b)
			}
		})
	}
}

func TestChunkedResponseStreamsThrough(t *testing.T) {
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 5; i++ {
			io.WriteString(w, strings.Repeat("x", 1000))
			w.(http.Flusher).Flush()
		}
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", o.URL))}}, Options{})
	resp, body := pathDo(t, px, "GET", "h", "/", nil, nil)
	if len(body) != 5000 || strings.Trim(body, "x") != "" {
		t.Fatalf("body of %d bytes", len(body))
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Transfer-Encoding %v, want chunked", resp.TransferEncoding)
	}
}

func TestExpectContinueEndToEnd(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", o.URL))}}, Options{})
	c := pathClient()
	c.Transport.(*http.Transport).ExpectContinueTimeout = 10 * time.Second
	req, _ := http.NewRequest("PUT", "http://"+px.Addr+"/up", strings.NewReader("payload"))
	req.Header.Set("Expect", "100-continue")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if seen := pathSeenBy(t, string(b)); seen.Body != "payload" {
		t.Errorf("origin got body %q", seen.Body)
	}
	// Without a 100 Continue the client would wait its full 10s.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v: no 100 Continue", d)
	}
}

func TestRetryOnAnotherBackend(t *testing.T) {
	good := pathEchoOrigin(t, "good")
	killed := pathEchoOrigin(t, "killed")
	killed.Close()
	noAnswer := pathRawOrigin(t, func(c net.Conn) {
		pathReadHead(bufio.NewReader(c))
	})
	tests := []struct {
		desc       string
		first      string
		method     string
		body       string
		wantStatus int
		wantGood   int64
	}{
		{"GET after a killed origin", killed.URL, "GET", "", 200, 1},
		{"POST after a refused connect", killed.URL, "POST", "data", 200, 1},
		{"GET after a closed connection", noAnswer, "GET", "", 200, 1},
		{"PUT with a small body after a closed connection", noAnswer, "PUT", "data", 200, 1},
		{"POST with a body sent is not retried", noAnswer, "POST", "data", 502, 0},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			good.Hits.Store(0)
			px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
				pathService("", pathLoc("/", tc.first, good.URL))}}, Options{})
			// The pool starts at its first backend, the failing one.
			resp, body := pathDo(t, px, tc.method, "h", "/", strings.NewReader(tc.body), nil)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if got := good.Hits.Load(); got != tc.wantGood {
				t.Errorf("good origin hit %d times, want %d", got, tc.wantGood)
			}
			if tc.wantStatus == 200 && pathSeenBy(t, body).Body != tc.body {
				t.Errorf("body not resent whole: %s", body)
			}
		})
	}
}

func TestRetryNeverResendsAStreamedBody(t *testing.T) {
	good := pathEchoOrigin(t, "good")
	noAnswer := pathRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if req, err := pathReadHead(br); err == nil {
			io.Copy(io.Discard, req.Body)
		}
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
		pathService("", pathLoc("/", noAnswer, good.URL))}}, Options{})
	// A chunked PUT is streamed by the server, so it cannot be resent.
	body := io.MultiReader(bytes.NewReader(make([]byte, 1000)))
	resp, _ := pathDo(t, px, "PUT", "h", "/", body, nil)
	if resp.StatusCode != http.StatusBadGateway || good.Hits.Load() != 0 {
		t.Fatalf("status %d, good hits %d; want 502 and none", resp.StatusCode, good.Hits.Load())
	}
}

func TestRetryWithOneBackendReportsTheBackendError(t *testing.T) {
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
		pathService("", pathLoc("/", pathClosedURL(t)))}}, Options{})
	resp, _ := pathDo(t, px, "GET", "h", "/", nil, nil)
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("status %d Retry-After %q, want 502 without", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestRetryAfterPooledConnectionClosedByOneBackend(t *testing.T) {
	// The origin answers once per connection, keep-alive advertised, then
	// closes: the second request finds a dead pooled connection.
	origin := pathRawOrigin(t, func(c net.Conn) {
		if _, err := pathReadHead(bufio.NewReader(c)); err == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
		time.Sleep(50 * time.Millisecond)
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
		pathService("", pathLoc("/", origin))}}, Options{})
	for i := range 3 {
		resp, body := pathDo(t, px, "GET", "h", "/", nil, nil)
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: status %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestBackendResponseTimeoutCutsStallsNotTransfers(t *testing.T) {
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		pause := 100 * time.Millisecond
		if strings.HasPrefix(r.URL.Path, "/stall") {
			pause = 2 * time.Second
		}
		if !strings.HasSuffix(r.URL.Path, "-chunked") {
			// A sized body this small is read whole before the answer
			// starts; without a size it streams.
			w.Header().Set("Content-Length", "10")
		}
		for i := 0; i < 10; i++ {
			io.WriteString(w, "x")
			w.(http.Flusher).Flush()
			if i == 4 {
				time.Sleep(pause) // one long pause mid-body
			} else {
				time.Sleep(pause / 4)
			}
		}
	})
	cfg := &configs.Config{
		Services: []configs.Service{pathService("", pathLoc("/", o.URL))},
		Timeouts: configs.Timeouts{BackendResponse: configs.Duration(400 * time.Millisecond)},
	}
	px := pathStartProxy(t, cfg, Options{})
	t.Run("moving body longer than the timeout passes", func(t *testing.T) {
		resp, body := pathDo(t, px, "GET", "h", "/moving", nil, nil)
		if resp.StatusCode != 200 || body != "xxxxxxxxxx" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})
	t.Run("moving streamed body longer than the timeout passes", func(t *testing.T) {
		resp, body := pathDo(t, px, "GET", "h", "/moving-chunked", nil, nil)
		if resp.StatusCode != 200 || body != "xxxxxxxxxx" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})
	t.Run("stalled small body answers 504", func(t *testing.T) {
		start := time.Now()
		resp, body := pathDo(t, px, "GET", "h", "/stall", nil, nil)
		if resp.StatusCode != 504 {
			t.Fatalf("status %d body %q, want 504", resp.StatusCode, body)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("answered after %v, the stall is 2s and backend_response 400ms", d)
		}
	})
	t.Run("stalled streamed body is cut", func(t *testing.T) {
		// The head may still sit in the proxy's write buffer when the cut
		// comes, so the client sees either a failed request or a short body.
		start := time.Now()
		resp, err := pathClient().Get("http://" + px.Addr + "/stall-chunked")
		var b []byte
		if err == nil {
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil || len(b) == 10 {
			t.Fatalf("read %q, %v; want a cut transfer", b, err)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("cut after %v, the stall is 2s and backend_response 400ms", d)
		}
	})
}

func TestConnectionPoolLimits(t *testing.T) {
	tests := []struct {
		desc string
		pool configs.Pool
		// ok judges the origin's peak and final open connection counts.
		ok   func(peak, open int) bool
		want string
	}{
		{"max_open caps connections", configs.Pool{MaxOpen: 2},
			func(peak, open int) bool { return peak <= 2 && open >= 1 }, "peak <= 2"},
		{"max_idle closes the surplus", configs.Pool{MaxIdle: 1},
			func(peak, open int) bool { return peak > 1 && open <= 1 }, "peak > 1, then at most 1 open"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var mu sync.Mutex
			open, peak := 0, 0
			connState := func(_ net.Conn, s http.ConnState) {
				mu.Lock()
				defer mu.Unlock()
				switch s {
				case http.StateNew:
					open++
					peak = max(peak, open)
				case http.StateClosed, http.StateHijacked:
					open--
				}
			}
			o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(300 * time.Millisecond) // the six requests overlap
				io.WriteString(w, "ok")
			}, func(srv *http.Server) { srv.ConnState = connState })
			px := pathStartProxy(t, &configs.Config{ConnectionPool: tc.pool,
				Services: []configs.Service{pathService("", pathLoc("/", o.URL))}}, Options{})
			var wg sync.WaitGroup
			for range 6 {
				wg.Go(func() {
					if resp, body := pathDo(t, px, "GET", "h", "/", nil, nil); resp.StatusCode != 200 || body != "ok" {
						t.Errorf("status %d %q", resp.StatusCode, body)
					}
				})
			}
			wg.Wait()
			// The origin sees a close only when its connection goroutine
			// runs; on a loaded machine that can take seconds. The loop
			// ends as soon as the count is right.
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				p, n := peak, open
				mu.Unlock()
				if tc.ok(p, n) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("origin saw peak %d, %d open now; want %s", p, n, tc.want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestRetryAfterFollowsTheServiceCircuitBreaker: once passive ejection has
// taken every backend out, the 503 tells clients to come back after the
// ejection back-off in force for that location — a service's
// circuit_breaker reset_timeout over the global passive_health.backoff.
func TestRetryAfterFollowsTheServiceCircuitBreaker(t *testing.T) {
	zero := 0
	svc := pathService("", pathLoc("/", pathClosedURL(t)))
	svc.Middleware = []configs.Middleware{{CircuitBreaker: &configs.CircuitBreaker{
		FailureThreshold: 1, ResetTimeout: configs.Duration(7 * time.Second)}}}
	cfg := &configs.Config{
		Services:      []configs.Service{svc},
		Retry:         configs.Retry{Attempts: &zero},
		PassiveHealth: configs.PassiveHealth{Backoff: configs.Duration(30 * time.Second)},
	}
	px := pathStartProxy(t, cfg, Options{})
	if resp, body := pathDo(t, px, "GET", "h", "/", nil, nil); resp.StatusCode != 502 {
		t.Fatalf("first request: status %d %q, want 502 (the failure that ejects)", resp.StatusCode, body)
	}
	resp, body := pathDo(t, px, "GET", "h", "/", nil, nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("with the backend ejected: status %d Retry-After %q %q, want 503 with Retry-After 7",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

// TestLeastResponseTimeLearnsThroughTheProxy: the proxy times each
// attempt for the policies that weigh response times (and skips the clock
// for the others), so least-response-time moves traffic to the faster
// backend.
func TestLeastResponseTimeLearnsThroughTheProxy(t *testing.T) {
	slow := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		io.WriteString(w, "slow")
	})
	fast := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fast") })
	loc := pathLoc("/", slow.URL, fast.URL)
	loc.LBPolicy = "least-response-time"
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", loc)}}, Options{})
	for range 40 {
		if resp, _ := pathDo(t, px, "GET", "h", "/", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// Each backend is tried at least once before the averages decide;
	// after that the slow one should see almost nothing.
	if s, f := slow.Hits.Load(), fast.Hits.Load(); s > 5 || f < 35 {
		t.Errorf("slow backend got %d requests, fast %d; want the fast one to take almost all", s, f)
	}
}
