package fastproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// edgeRespondAfter answers 200 "slow" after d.
func edgeRespondAfter(d time.Duration) func(net.Conn, *http.Request) {
	return func(c net.Conn, _ *http.Request) {
		time.Sleep(d)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
	}
}

// edgeInFlight sends a GET on a new connection and reports its outcome.
type edgeOutcome struct {
	status int
	body   string
	close  bool
	err    error
}

func edgeGetAsync(addr string) <-chan edgeOutcome {
	out := make(chan edgeOutcome, 1)
	go func() {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			out <- edgeOutcome{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
		if err != nil {
			out <- edgeOutcome{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		out <- edgeOutcome{status: resp.StatusCode, body: string(b), close: resp.Close, err: err}
	}()
	return out
}

// edgeWaitHead waits until the origin has read a request head.
func edgeWaitHead(t *testing.T, o *edgeOrigin) {
	t.Helper()
	select {
	case <-o.heads:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the origin")
	}
}

// TestServerShutdownLetsInFlightRequestFinish: Shutdown with a request in
// flight (the origin takes a second) stops accepting at once, lets the
// request complete with 200 and Connection: close, then returns nil.
func TestServerShutdownLetsInFlightRequestFinish(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, edgeRespondAfter(time.Second))
	s, err := New(edgeConfig(o.URL, nil), Options{Logger: edgeTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := edgeAddr(t, s)
	inflight := edgeGetAsync(addr)
	edgeWaitHead(t, o)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.Shutdown(ctx) }()

	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections still accepted during shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}

	r := <-inflight
	if r.err != nil || r.status != 200 || r.body != "slow" {
		t.Fatalf("in-flight request: %d %q %v, want 200 slow", r.status, r.body, r.err)
	}
	if !r.close {
		t.Errorf("in-flight response lacks Connection: close")
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	edgeSinceWithin(t, "Shutdown returned", start, 0, 4*time.Second)
}

// TestServerShutdownCutsRequestsAfterGrace: when the grace period ends
// first, Shutdown closes the connection still waiting and returns the
// context's error.
func TestServerShutdownCutsRequestsAfterGrace(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, edgeRespondAfter(1500*time.Millisecond))
	s, err := New(edgeConfig(o.URL, nil), Options{Logger: edgeTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	inflight := edgeGetAsync(edgeAddr(t, s))
	edgeWaitHead(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want %v", err, context.DeadlineExceeded)
	}
	edgeSinceWithin(t, "Shutdown returned", start, 250*time.Millisecond, 2*time.Second)
	if r := <-inflight; r.err == nil && r.status == 200 {
		t.Fatalf("request cut by shutdown still got 200")
	}
}

// TestServerRecoversPanic: a panic while handling a request answers it 500
// and closes its connection; the server keeps serving.
func TestServerRecoversPanic(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, nil)
	panicky := func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/panic" {
				panic("injected by the test")
			}
			next(ctx)
		}
	}
	s := edgeStart(t, edgeConfig(o.URL, nil), panicky)
	addr := edgeAddr(t, s)

	c := edgeDial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, body := edgeRead(t, br, "GET")
	if resp.StatusCode != 500 || !resp.Close {
		t.Fatalf("got %d %q close=%v, want 500 with Connection: close", resp.StatusCode, body, resp.Close)
	}
	if !edgeClosedWithin(c, br, 2*time.Second) {
		t.Fatal("connection still open after the panic")
	}

	c = edgeDial(t, addr)
	io.WriteString(c, "GET /fine HTTP/1.1\r\nHost: a.test\r\n\r\n")
	if resp, body := edgeRead(t, bufio.NewReader(c), "GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("after the panic: %d %q, want 200 ok", resp.StatusCode, body)
	}
	edgeExpectOriginPaths(t, o, 1)
}

// edgeExpectOriginPaths fails unless the origin read n whole requests.
func edgeExpectOriginPaths(t *testing.T, o *edgeOrigin, n int) {
	t.Helper()
	if got := o.Requests(); got != n {
		t.Fatalf("origin read %d requests, want %d", got, n)
	}
}

// TestServerAddrsInPortOrder: one listener per distinct port, reported in
// ascending configured-port order whatever the order of the services.
func TestServerAddrsInPortOrder(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, nil)
	ports := edgeFreePorts(t, 2)
	lo, hi := min(ports[0], ports[1]), max(ports[0], ports[1])
	loc := []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: o.URL}}}}
	cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{
		{Name: "high", Port: hi, Locations: loc},
		{Name: "low", Port: lo, Locations: loc},
		{Name: "low-b", Host: "b.test", Port: lo, Locations: loc},
	}}
	s := edgeStart(t, cfg, nil)
	addrs := s.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("Addrs = %v, want 2", addrs)
	}
	for i, want := range []int{lo, hi} {
		if got := addrs[i].(*net.TCPAddr).Port; got != want {
			t.Fatalf("Addrs[%d] port %d, want %d (%v)", i, got, want, addrs)
		}
		c := edgeDial(t, addrs[i].String())
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n")
		if resp, _ := edgeRead(t, bufio.NewReader(c), "GET"); resp.StatusCode != 200 {
			t.Fatalf("port %d answered %d", want, resp.StatusCode)
		}
	}
	if err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
}

// edgeFreePorts returns n ports that were free a moment ago.
func edgeFreePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out
}

// TestServerStartFailsOnBusyPort: a port that cannot be opened fails Start
// and leaves no listener of the Server open.
func TestServerStartFailsOnBusyPort(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free := edgeFreePorts(t, 1)[0]
	loc := []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: "http://127.0.0.1:1"}}}}
	cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{
		{Name: "free", Port: free, Locations: loc},
		{Name: "busy", Port: busy.Addr().(*net.TCPAddr).Port, Locations: loc},
	}}
	s, err := New(cfg, Options{Logger: edgeTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start succeeded on a busy port")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(free))
	if err != nil {
		t.Fatalf("port %d left open by the failed Start: %v", free, err)
	}
	ln.Close()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after a failed Start: %v", err)
	}
}

// TestServerServesTopLevelBackends: Terraster's single-service form (top
// level port and backends) is served whether or not the configuration went
// through Prepare (which makes the "default" service itself), on one port.
func TestServerServesTopLevelBackends(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc    string
		prepare bool
	}{
		{"as written", false},
		{"prepared", true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			o := edgeStartOrigin(t, nil)
			cfg := &configs.Config{Host: "127.0.0.1", Backends: []configs.Backend{{URL: o.URL}}}
			if tc.prepare {
				if err := cfg.Prepare(); err != nil {
					t.Fatal(err)
				}
			}
			s := edgeStart(t, cfg, nil)
			if addrs := s.Addrs(); len(addrs) != 1 {
				t.Fatalf("Addrs = %v, want one", addrs)
			}
			c := edgeDial(t, edgeAddr(t, s))
			io.WriteString(c, "GET /any HTTP/1.1\r\nHost: whatever.test\r\n\r\n")
			if resp, body := edgeRead(t, bufio.NewReader(c), "GET"); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
			}
		})
	}
}
