package pluginhost_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// startCountingProxy runs h in a real proxy in front of origin (a raw
// listener's address), with client_read 300ms, and returns the proxy's URL.
func startCountingProxy(t *testing.T, h *pluginhost.Host, origin string) string {
	t.Helper()
	cfg := &configs.Config{Host: "127.0.0.1", Timeouts: configs.Timeouts{ClientRead: configs.Duration(300 * time.Millisecond)}, Services: []configs.Service{{
		Name:      "broken",
		Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: "http://" + origin}}}},
	}}}
	return startProxy(t, cfg, h)
}

// countingOrigin answers "ok" and counts the requests that reached it,
// whole or not.
func countingOrigin(t *testing.T) (addr string, hits *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits = new(atomic.Int64)
	origin := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		ctx.SetBodyString("ok")
	}}
	go origin.Serve(ln)
	t.Cleanup(func() { origin.Shutdown() })
	return ln.Addr().String(), hits
}

// rawPost sends a POST announcing size bytes, then sent of them; with cut
// it then half-closes, as a client whose upload broke off, and otherwise
// waits, as one whose upload stalled. It returns the status of the answer.
func rawPost(t *testing.T, url string, size, sent int, cut bool) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("x", sent))
	if cut {
		conn.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// A request body that write-back cannot read whole is not forwarded: the
// origin gets nothing, and the client an answer that says why, instead of
// the origin getting the part that was read with its length as a complete
// body. A long replacement streams (see TestLongReplacementBodiesStream):
// when it fails past its first 64 KiB the origin has its head and part of
// its body, chunked and without the end, so no whole request, and the
// client gets 502. Each fault is sent six times, more than the passive
// health's default failure_threshold: none is the backend's, so a request
// without the fault still passes.
func TestBrokenRequestBodiesAreNotForwarded(t *testing.T) {
	t.Parallel()
	const upload = 256 << 10 // past the server's buffer: the body streams
	cases := []struct {
		desc       string
		wrap       func(io.ReadCloser) io.ReadCloser
		sent       int
		cut        bool
		wantStatus int
	}{
		{"plugin's MaxBytesReader refuses it", func(b io.ReadCloser) io.ReadCloser {
			return http.MaxBytesReader(nil, b, 64<<10)
		}, upload, false, http.StatusRequestEntityTooLarge},
		{"plugin's own body fails", func(b io.ReadCloser) io.ReadCloser {
			if b == http.NoBody {
				return b // the GET after the fault
			}
			return io.NopCloser(io.MultiReader(strings.NewReader("made by the plugin"), iotest.ErrReader(errors.New("plugin's source failed"))))
		}, upload, false, http.StatusBadGateway},
		{"plugin's own long body fails after it began to stream", func(b io.ReadCloser) io.ReadCloser {
			if b == http.NoBody {
				return b
			}
			return io.NopCloser(io.MultiReader(strings.NewReader(strings.Repeat("z", 200<<10)), iotest.ErrReader(errors.New("plugin's source failed"))))
		}, upload, false, http.StatusBadGateway},
		{"client's upload breaks off under a wrapper", func(b io.ReadCloser) io.ReadCloser {
			return io.NopCloser(io.TeeReader(b, io.Discard))
		}, upload / 2, true, http.StatusBadRequest},
		{"client's upload stalls under a wrapper", func(b io.ReadCloser) io.ReadCloser {
			return io.NopCloser(io.TeeReader(b, io.Discard))
		}, upload / 2, false, http.StatusRequestTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			h, err := pluginhost.New([]plugin.Handler{wrapper{req: tc.wrap, resp: func(b io.ReadCloser) io.ReadCloser { return b }}}, nil, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			origin, hits := countingOrigin(t)
			url := startCountingProxy(t, h, origin)
			for i := range 6 {
				if got := rawPost(t, url, upload, tc.sent, tc.cut); got != tc.wantStatus {
					t.Errorf("attempt %d: client got %d, want %d", i+1, got, tc.wantStatus)
				}
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("origin got %d requests, want none", n)
			}
			// The proxy is still fine: a request without the fault passes.
			resp, err := http.Get(url + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
				t.Errorf("next request: %d, origin hits %d; want 200, 1", resp.StatusCode, hits.Load())
			}
		})
	}
}

// rawOrigin serves each connection accepted on a loopback listener with
// serve, under a 20 s deadline, until the test ends, and returns its
// address: for origins that misbehave in ways no HTTP server library
// would.
func rawOrigin(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// brokenOrigin announces a body of size bytes and sends only sent of them
// before closing the connection, as a backend that crashed mid-answer.
func brokenOrigin(t *testing.T, size, sent int) string {
	return rawOrigin(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("y", sent))
	})
}

// A response body that fails under a plugin is never sent as if it were
// complete. A small answer is held whole, so its failure is known before
// anything is sent: the client gets 502. A streamed one goes on as it is
// read (see TestResponseReplacementsOfStreamsStream), so the head is out
// when the failure comes: the client's body then ends short of its
// Content-Length or without its last chunk, as without plugins.
func TestBrokenResponseBodiesAreNotSentAsWhole(t *testing.T) {
	t.Parallel()
	const size, sent = 1 << 20, 300 << 10 // past the backend read buffer: the body streams
	peek := func(b io.ReadCloser) io.ReadCloser {
		// Reads part of the backend's stream and leaves the body as it is:
		// the rest is replayed after it, and breaks off.
		var p [4096]byte
		io.ReadFull(b, p[:])
		return b
	}
	failing := func(io.ReadCloser) io.ReadCloser {
		return io.NopCloser(io.MultiReader(strings.NewReader(strings.Repeat("p", 200<<10)), iotest.ErrReader(errors.New("plugin's source failed"))))
	}
	cases := []struct {
		desc   string
		wrap   func(io.ReadCloser) io.ReadCloser
		origin func(t *testing.T) string
		cut    bool // the answer streams: want a cut body, not a 502
	}{
		{"plugin's replacement of a small answer fails", failing, func(t *testing.T) string { a, _ := countingOrigin(t); return a }, false},
		{"plugin's replacement of a streamed answer fails", failing, func(t *testing.T) string { return brokenOrigin(t, size, size) }, true},
		{"wrapped backend body breaks off", func(b io.ReadCloser) io.ReadCloser {
			return io.NopCloser(io.TeeReader(b, io.Discard))
		}, func(t *testing.T) string { return brokenOrigin(t, size, sent) }, true},
		{"backend body read in part breaks off", peek, func(t *testing.T) string { return brokenOrigin(t, size, sent) }, true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			h, err := pluginhost.New([]plugin.Handler{wrapper{req: func(b io.ReadCloser) io.ReadCloser { return b }, resp: tc.wrap}}, nil, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			url := startCountingProxy(t, h, tc.origin(t))
			client := &http.Client{Timeout: 10 * time.Second}
			resp, err := client.Get(url + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case !tc.cut && resp.StatusCode != http.StatusBadGateway:
				t.Fatalf("client got %d with %d bytes (read error %v), want 502", resp.StatusCode, len(body), err)
			case tc.cut && err == nil:
				t.Fatalf("client got %d and a body of %d bytes that read whole, want it cut short", resp.StatusCode, len(body))
			}
		})
	}
}
