package fastproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// edgeOrigin is a backend on a raw TCP listener that records exactly the
// bytes it receives, so tests can tell what, if anything, the proxy
// forwarded. It parses what it reads with net/http only to know when to
// answer, and answers each request with respond (default: 200 "ok").
type edgeOrigin struct {
	ln      net.Listener
	URL     string
	respond func(c net.Conn, req *http.Request)

	mu     sync.Mutex
	raw    bytes.Buffer
	reqs   int
	bodies []int64       // body length of each whole request
	heads  chan struct{} // one value per request head read
}

// edgeStartOrigin starts an origin; it stops when the test ends.
func edgeStartOrigin(t testing.TB, respond func(c net.Conn, req *http.Request)) *edgeOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &edgeOrigin{ln: ln, URL: "http://" + ln.Addr().String(), respond: respond, heads: make(chan struct{}, 64)}
	if o.respond == nil {
		o.respond = edgeRespondOK
	}
	var wg sync.WaitGroup
	var conns []net.Conn
	var connsMu sync.Mutex
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connsMu.Lock()
			conns = append(conns, c)
			connsMu.Unlock()
			wg.Go(func() { o.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	return o
}

// edgeRespondOK answers 200 with the body "ok".
func edgeRespondOK(c net.Conn, _ *http.Request) {
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
}

func (o *edgeOrigin) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(edgeRecorder{o, c})
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		o.heads <- struct{}{}
		n, err := io.Copy(io.Discard, req.Body)
		if err != nil {
			return
		}
		o.mu.Lock()
		o.reqs++
		o.bodies = append(o.bodies, n)
		o.mu.Unlock()
		o.respond(c, req)
	}
}

// edgeRecorder appends everything read from the connection to o.raw.
type edgeRecorder struct {
	o *edgeOrigin
	c net.Conn
}

func (r edgeRecorder) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	r.o.mu.Lock()
	r.o.raw.Write(p[:n])
	r.o.mu.Unlock()
	return n, err
}

// Raw returns a copy of every byte the origin received so far.
func (o *edgeOrigin) Raw() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.raw.Bytes())
}

// Requests returns how many whole requests (head and body) the origin read.
func (o *edgeOrigin) Requests() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reqs
}

// Bodies returns the body length of each whole request the origin read.
func (o *edgeOrigin) Bodies() []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int64(nil), o.bodies...)
}

// edgeExpectNothing fails when the origin received any byte. A forwarded
// request would have been written before the proxy answered; the pause
// lets the origin's reader catch up with bytes already on loopback.
func edgeExpectNothing(t testing.TB, o *edgeOrigin) {
	t.Helper()
	time.Sleep(30 * time.Millisecond)
	if raw := o.Raw(); len(raw) > 0 {
		t.Fatalf("origin received %d bytes, want none: %q", len(raw), raw)
	}
}

// edgeConfig is a configuration with one catch-all service on an
// ephemeral loopback port in front of origin, changed by edit.
func edgeConfig(origin string, edit func(*configs.Config)) *configs.Config {
	cfg := &configs.Config{
		Host: "127.0.0.1",
		Services: []configs.Service{{
			Name:      "edge",
			Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: origin}}}},
		}},
	}
	if edit != nil {
		edit(cfg)
	}
	return cfg
}

// edgeTestLogger discards logs unless the test runs with -v.
func edgeTestLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// edgeStart builds and starts a Server; wrap (may be nil) wraps the proxy
// inside the edge. The Server is shut down when the test ends.
func edgeStart(t testing.TB, cfg *configs.Config, wrap func(fasthttp.RequestHandler) fasthttp.RequestHandler) *Server {
	t.Helper()
	return edgeStartWith(t, cfg, Options{Logger: edgeTestLogger()}, wrap)
}

// edgeStartWith is edgeStart with the Server's Options.
func edgeStartWith(t testing.TB, cfg *configs.Config, opts Options, wrap func(fasthttp.RequestHandler) fasthttp.RequestHandler) *Server {
	t.Helper()
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.wrap = wrap
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// edgeAddr is the address of the Server's first port.
func edgeAddr(t testing.TB, s *Server) string {
	t.Helper()
	addrs := s.Addrs()
	if len(addrs) == 0 {
		t.Fatal("server has no address")
	}
	return addrs[0].String()
}

// edgeDial connects to addr with a deadline bounding the whole exchange.
func edgeDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// edgeRead reads one response (for method) and its body.
func edgeRead(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	return resp, string(b)
}

// edgeClosedWithin reports whether the peer closes c within d: a read
// ends in EOF or a reset rather than a timeout. Unread bytes are skipped.
func edgeClosedWithin(c net.Conn, r io.Reader, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}
