package fastproxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// A backend that answers in HTTP/1.0 is answered to the client in the
// proxy's own version (RFC 9110, Section 6.2). Forwarding "HTTP/1.0" in
// the status line over a body the proxy frames chunked (the backend's
// ended at its close) corrupts it: a client must not decode chunked in
// an HTTP/1.0 message, and Go's reads "8\r\nten-body\r\n0\r\n\r\n".
func TestHTTP10BackendIsAnsweredInTheProxysVersion(t *testing.T) {
	origin, _ := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		switch req.URL.Path {
		case "/until-close":
			io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nten-body")
			c.Close()
		default:
			io.WriteString(c, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nsized")
		}
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}}, Options{})

	for _, tc := range []struct{ path, body string }{
		{"/until-close", "ten-body"},
		{"/sized", "sized"},
		{"/until-close", "ten-body"}, // on the kept client connection
	} {
		resp, body := pathDo(t, px, "GET", "h", tc.path, nil, nil)
		if resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" || body != tc.body {
			t.Errorf("%s: %d %s %q, want 200 HTTP/1.1 %q", tc.path, resp.StatusCode, resp.Proto, body, tc.body)
		}
	}
	// On one connection, pipelined: both answers say HTTP/1.1 and the
	// connection stays open after the first (a client takes an HTTP/1.0
	// answer without keep-alive for the end of the connection).
	c, err := net.Dial("tcp", px.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /until-close HTTP/1.1\r\nHost: h\r\n\r\nGET /sized HTTP/1.1\r\nHost: h\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, want := range []string{"ten-body", "sized"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if resp.Proto != "HTTP/1.1" || err != nil || string(body) != want || resp.Close {
			t.Errorf("%s, body %q (%v), close %v; want HTTP/1.1, %q, kept open", resp.Proto, body, err, resp.Close, want)
		}
	}
}

// A response head that ends in a bare LF is refused at once with 502, as
// the server refuses such a request head with 400: fasthttp waits for a
// CRLF CRLF the backend never sends, which would hold the client until
// backend_response and answer 504 as if the backend were slow.
func TestBackendHeadEndingInBareLFIs502AtOnce(t *testing.T) {
	origin, _ := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		switch req.URL.Path {
		case "/lf":
			io.WriteString(c, "HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
		case "/lf-later": // the head's end comes in a later read
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n")
			time.Sleep(50 * time.Millisecond)
			io.WriteString(c, "\nok")
		case "/crlf-later": // a well-formed head whose end comes later
			io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r")
			time.Sleep(50 * time.Millisecond)
			io.WriteString(c, "\nok")
			c.Close()
			return
		case "/interim-then-lf":
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
			time.Sleep(50 * time.Millisecond)
			io.WriteString(c, "HTTP/1.1 200 OK\n\nok")
		}
		// Hold the connection open: a proxy waiting for a CRLF CRLF
		// would wait here until backend_response.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c)
	})
	svc := pathService("", pathLoc("/", origin))
	px := pathStartProxy(t, &configs.Config{
		Services: []configs.Service{svc},
		Timeouts: configs.Timeouts{BackendResponse: configs.Duration(3 * time.Second)},
	}, Options{})
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/lf", 502},
		{"/lf-later", 502},
		{"/crlf-later", 200},
		{"/interim-then-lf", 502},
	} {
		start := time.Now()
		resp, body := pathDo(t, px, "GET", "h", tc.path, nil, map[string]string{"Connection": "close"})
		if took := time.Since(start); resp.StatusCode != tc.code || took > 2*time.Second {
			t.Errorf("%s: %d %q after %v, want %d well before backend_response", tc.path, resp.StatusCode, body, took.Round(time.Millisecond), tc.code)
		}
		if tc.code == 200 && body != "ok" {
			t.Errorf("%s: body %q", tc.path, body)
		}
	}
}
