package fastproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// http10Exchange sends req on c and reads until the proxy closes c, for at
// most 10 s. It calls no t method, so a test's goroutine may use it.
func http10Exchange(c net.Conn, req string) ([]byte, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	return io.ReadAll(c)
}

// http10Split splits a raw answer into its head (with the last CRLF) and
// the bytes after it.
func http10Split(t *testing.T, raw []byte, err error) (head string, body []byte) {
	t.Helper()
	if err != nil {
		t.Fatalf("reading to the close: %v (got %d bytes)", err, len(raw))
	}
	i := bytes.Index(raw, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("no head in %q", raw[:min(len(raw), 200)])
	}
	return string(raw[:i+2]), raw[i+4:]
}

// http10Get sends req on a new connection and returns the raw head and the
// raw bytes after it up to the connection's close.
func http10Get(t *testing.T, addr, req string) (head string, body []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := http10Exchange(c, req)
	return http10Split(t, raw, err)
}

// TestHTTP10ClientGetsAStreamedBodyUnchunked: a body of unknown length (the
// origin streams it chunked) reaches an HTTP/1.0 client as it is, ended by
// the connection's close, with no Transfer-Encoding, which HTTP/1.0 cannot
// read (fasthttp would chunk it: the client then took the chunk sizes for
// body bytes). An HTTP/1.1 client still gets it chunked on a kept
// connection, and a HEAD gets no body.
func TestHTTP10ClientGetsAStreamedBodyUnchunked(t *testing.T) {
	want := strings.Repeat("0123456789abcdef", 20000) + "end"
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, want[:100000])
		w.(http.Flusher).Flush() // no Content-Length: chunked to the proxy
		io.WriteString(w, want[100000:])
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", o.URL))}}, Options{})

	for _, req := range []string{
		"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
	} {
		head, body := http10Get(t, px.Addr, req)
		lower := strings.ToLower(head)
		if !strings.HasPrefix(head, "HTTP/1.") || !strings.Contains(head, " 200 ") {
			t.Fatalf("%q: head %q", req, head)
		}
		if strings.Contains(lower, "transfer-encoding") || strings.Contains(lower, "content-length") {
			t.Errorf("%q: head frames the body for an HTTP/1.0 client:\n%s", req, head)
		}
		if !strings.Contains(lower, "connection: close") {
			t.Errorf("%q: head does not say the connection closes:\n%s", req, head)
		}
		if string(body) != want {
			t.Errorf("%q: body %d bytes (starts %q), want %d", req, len(body), body[:min(len(body), 12)], len(want))
		}
	}

	head, body := http10Get(t, px.Addr, "HEAD / HTTP/1.0\r\nHost: a\r\n\r\n")
	if !strings.Contains(head, " 200 ") || len(body) != 0 {
		t.Errorf("HEAD over HTTP/1.0: head %q and %d body bytes, want 200 and none", head, len(body))
	}

	c, err := net.Dial("tcp", px.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := range 2 {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != want || len(resp.TransferEncoding) == 0 || resp.Close {
			t.Fatalf("HTTP/1.1 request %d: %d bytes (err %v), chunked %v, close %v; want the body chunked on a kept connection",
				i, len(b), err, resp.TransferEncoding, resp.Close)
		}
	}
}

// TestHTTP10ClientThatStopsReadingIsCutOff: the close-delimited answer is
// written outside fasthttp's own response writing, yet it is bounded by
// client_write like any other: a client that stops reading a long stream
// is cut off, and the origin's stream with it.
func TestHTTP10ClientThatStopsReadingIsCutOff(t *testing.T) {
	gone := make(chan error, 1)
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := w.Write(chunk); err != nil {
				gone <- err
				return
			}
			w.(http.Flusher).Flush()
		}
		gone <- nil
	})
	cfg := &configs.Config{
		Timeouts: configs.Timeouts{ClientWrite: configs.Duration(300 * time.Millisecond)},
		Services: []configs.Service{pathService("", pathLoc("/", o.URL))},
	}
	px := pathStartProxy(t, cfg, Options{})
	c, err := net.Dial("tcp", px.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(c, "GET / HTTP/1.0\r\nHost: a\r\n\r\n")
	// Never read: the proxy's writes fill the socket buffers and stall.
	select {
	case err := <-gone:
		if err == nil {
			t.Fatal("the origin streamed for 15 s to a client that read nothing: the proxy never gave up")
		}
	case <-time.After(12 * time.Second):
		t.Fatal("the origin was still streaming 12 s after the client stopped reading")
	}
}

// TestHTTP10ClientGetsAStreamedBodyUnchunkedOverTLS: the same over TLS,
// where the close-delimited answer goes through the TLS connection and
// ends with its close_notify.
func TestHTTP10ClientGetsAStreamedBodyUnchunkedOverTLS(t *testing.T) {
	want := strings.Repeat("fedcba9876543210", 20000)
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, want[:1000])
		w.(http.Flusher).Flush()
		io.WriteString(w, want[1000:])
	})
	svc := pathService("", pathLoc("/", o.URL))
	svc.TLS = edgeSelfSigned(t, "a.test")
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{svc}}, Options{})
	raw, err := http10Exchange(edgeTLSDial(t, px.Addr), "GET / HTTP/1.0\r\nHost: a.test\r\n\r\n")
	head, body := http10Split(t, raw, err)
	if strings.Contains(strings.ToLower(head), "transfer-encoding") || string(body) != want {
		t.Errorf("head:\n%s\nbody %d bytes (starts %q), want %d unframed", head, len(body), body[:min(len(body), 12)], len(want))
	}
}

// TestShutdownLetsAnHTTP10StreamFinish: a close-delimited answer is written
// on a connection fasthttp's shutdown no longer counts, so the server waits
// for it itself: a download under way when Shutdown begins arrives whole
// within the grace period, and Shutdown then returns nil.
func TestShutdownLetsAnHTTP10StreamFinish(t *testing.T) {
	want := strings.Repeat("s", 300000)
	started := make(chan struct{})
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, want[:1000])
		w.(http.Flusher).Flush()
		close(started)
		time.Sleep(time.Second)
		io.WriteString(w, want[1000:])
	})
	s, err := New(edgeConfig(o.URL, nil), Options{Logger: edgeTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	type result struct {
		raw []byte
		err error
	}
	got := make(chan result, 1)
	addr := edgeAddr(t, s)
	go func() {
		// Not http10Get: a goroutine must not call t.Fatal.
		c, err := net.Dial("tcp", addr)
		if err != nil {
			got <- result{nil, err}
			return
		}
		defer c.Close()
		raw, err := http10Exchange(c, "GET / HTTP/1.0\r\nHost: a\r\n\r\n")
		got <- result{raw, err}
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the origin")
	}
	time.Sleep(50 * time.Millisecond) // the first part is on its way to the client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	r := <-got
	_, body, _ := bytes.Cut(r.raw, []byte("\r\n\r\n"))
	if r.err != nil || string(body) != want {
		t.Errorf("download under way at shutdown got %d body bytes (read error %v), want %d", len(body), r.err, len(want))
	}
}

// An HTTP/1.0 client's requests reach the backend in HTTP/1.1 on a kept
// connection (RFC 9110, Section 6.2: a proxy sends its own version): the
// client's implicit close is the client's, so one backend connection
// serves every request, and the client still gets its answers in the
// framing it reads, the connection closed or kept as it asked.
func TestHTTP10ClientIsForwardedInHTTP11OnAKeptConnection(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	origin, conns := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s close=%v conn=%q", req.Proto, req.Close, req.Header.Get("Connection")))
		mu.Unlock()
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}}, Options{})
	for i := 0; i < 3; i++ {
		resp := pathRaw(t, px.Addr, "GET /a HTTP/1.0\r\nHost: h\r\n\r\n", "GET")[0]
		if body, _ := readAllString(resp); resp.StatusCode != 200 || body != "ok" || !resp.Close {
			t.Errorf("HTTP/1.0 request %d: %d %q close=%v, want 200 ok and the connection closed", i, resp.StatusCode, body, resp.Close)
		}
	}
	kept := pathRaw(t, px.Addr, "GET /a HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\nHost: h\r\n\r\n", "GET", "GET")
	if kept[0].Close || kept[0].Header.Get("Connection") != "keep-alive" || !kept[1].Close {
		t.Errorf("keep-alive then not: close %v (Connection %q), then close %v; want kept, then closed",
			kept[0].Close, kept[0].Header.Get("Connection"), kept[1].Close)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, s := range seen {
		if s != `HTTP/1.1 close=false conn=""` {
			t.Errorf("backend request %d: %s, want HTTP/1.1 without Connection: close", i, s)
		}
	}
	if n := conns(); n != 1 {
		t.Errorf("the backend saw %d connections for %d requests, want 1", n, len(seen))
	}
}
