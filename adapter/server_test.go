package adapter

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve runs a real fasthttp server for h on a loopback port until the
// test ends, configured as Spillway's proxy is where it matters (streamed
// request bodies when stream is set, no multipart pre-parsing).
func serve(t testing.TB, stream bool, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{
		Handler:                      h,
		StreamRequestBody:            stream,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultDate:                true,
		NoDefaultContentType:         true,
		ReadBufferSize:               16 << 10,
		ReadTimeout:                  5 * time.Second,
		WriteTimeout:                 5 * time.Second,
	}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()   //nolint:errcheck // ends on Shutdown
	t.Cleanup(func() { s.Shutdown(); <-done }) //nolint:errcheck
	return ln.Addr().String()
}

// send writes raw to addr on a new connection and returns the answer as
// net/http's client reads it, with its body read, and the client's local
// address (the RemoteAddr the server sees).
func send(t testing.TB, addr, raw string) (*http.Response, string, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	req, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	res, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body), c.LocalAddr().String()
}

// origin runs a loopback origin that answers every request with raw, as it
// is, and closes the connection.
func origin(t testing.TB, raw string) string {
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
				c.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					io.WriteString(c, raw) //nolint:errcheck
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// receive returns what the handler sent on c for the request that got res,
// failing the test if the handler did not run.
func receive[T any](t testing.TB, c <-chan T, res *http.Response, body string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("handler did not run; server answered %s: %s", res.Status, body)
		panic("unreachable")
	}
}

// httpServer runs a net/http origin on loopback and returns its address.
func httpServer(t testing.TB, h http.HandlerFunc) string {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}
