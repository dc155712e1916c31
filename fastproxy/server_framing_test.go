package fastproxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// TestServerRefusesAmbiguousFraming writes malformed and ambiguous requests
// byte for byte to a real Server and checks each is answered with its
// status, the connection is closed, and the origin receives nothing.
func TestServerRefusesAmbiguousFraming(t *testing.T) {
	t.Parallel()
	const post = "POST /up HTTP/1.1\r\nHost: a.test\r\n"
	for _, tc := range []struct {
		desc   string
		raw    string
		status int
	}{
		{"content-length with transfer-encoding", post + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"transfer-encoding with content-length", post + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"repeated content-length, same value", post + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
		{"repeated content-length, other value", post + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"content-length list", post + "Content-Length: 3, 3\r\n\r\nabc", 400},
		{"both framings with Expect: 100-continue", post + "Expect: 100-continue\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"content-length with sign", post + "Content-Length: +3\r\n\r\nabc", 400},
		{"content-length not a number", post + "Content-Length: 0x3\r\n\r\nabc", 400},
		{"transfer-encoding identity", post + "Transfer-Encoding: identity\r\n\r\nabc", 400},
		{"transfer-encoding gzip then chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"transfer-encoding chunked not final", post + "Transfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"transfer-encoding repeated", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"transfer-encoding on HTTP/1.0", "POST /up HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk size not hex", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk size overflows", post + "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk size negative", post + "Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk size line ends in bare LF", post + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400},
		{"request line with double space", "POST  /up HTTP/1.1\r\nHost: a.test\r\n\r\n", 400},
		{"request line without version", "GET /up\r\nHost: a.test\r\n\r\n", 400},
		{"unknown HTTP version", "GET /up HTTP/9.1\r\nHost: a.test\r\n\r\n", 400},
		{"method with bad character", "G@T /up HTTP/1.1\r\nHost: a.test\r\n\r\n", 400},
		{"space in header name", "GET /up HTTP/1.1\r\nHost: a.test\r\nX Y: z\r\n\r\n", 400},
		{"space before colon", "GET /up HTTP/1.1\r\nHost: a.test\r\nX-Y : z\r\n\r\n", 400},
		{"separator in header name", "GET /up HTTP/1.1\r\nHost: a.test\r\nX(Y): z\r\n\r\n", 400},
		{"header line without colon", "GET /up HTTP/1.1\r\nHost: a.test\r\nXY\r\n\r\n", 400},
		{"control character in value", "GET /up HTTP/1.1\r\nHost: a.test\r\nX: a\x01b\r\n\r\n", 400},
		{"NUL in value", "GET /up HTTP/1.1\r\nHost: a.test\r\nX: a\x00b\r\n\r\n", 400},
		{"bare CR in value", "GET /up HTTP/1.1\r\nHost: a.test\r\nX: a\rb\r\n\r\n", 400},
		{"obs-fold with space", "GET /up HTTP/1.1\r\nHost: a.test\r\nX: a\r\n b\r\n\r\n", 400},
		{"obs-fold with tab", "GET /up HTTP/1.1\r\nHost: a.test\r\nX: a\r\n\tb\r\n\r\n", 400},
		{"absolute-form target naming another host", "GET http://b.test/up HTTP/1.1\r\nHost: a.test\r\n\r\n", 400},
		{"repeated host", "GET /up HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", 400},
		{"missing host", "GET /up HTTP/1.1\r\n\r\n", 400},
		// fasthttp would wait for a CRLF CRLF these never send, until the
		// header timeout; they are malformed heads, refused at once.
		{"head ends in bare LF", "GET /up HTTP/1.1\nHost: a.test\n\n", 400},
		{"blank line is a bare LF", "GET /up HTTP/1.1\r\nHost: a.test\r\n\n", 400},
		{"last header line ends in bare LF", "GET /up HTTP/1.1\r\nHost: a.test\n\r\n", 400},
		{"head over max_header_bytes", "GET /up HTTP/1.1\r\nHost: a.test\r\nX: " + strings.Repeat("a", 3000) + "\r\n\r\n", 431},
		{"request line over max_header_bytes", "GET /up" + strings.Repeat("a", 3000) + " HTTP/1.1\r\nHost: a.test\r\n\r\n", 414},
		{"long request line, head over max_header_bytes", "GET /up" + strings.Repeat("a", 1500) + " HTTP/1.1\r\nHost: a.test\r\nX: " + strings.Repeat("a", 1000) + "\r\n\r\n", 431},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			o := edgeStartOrigin(t, nil)
			s := edgeStart(t, edgeConfig(o.URL, func(c *configs.Config) { c.Limits.MaxHeaderBytes = 2048 }), nil)
			c := edgeDial(t, edgeAddr(t, s))
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, body := edgeRead(t, br, "POST")
			if resp.StatusCode != tc.status {
				t.Errorf("status %d (%q), want %d", resp.StatusCode, body, tc.status)
			}
			if !resp.Close {
				t.Errorf("response lacks Connection: close")
			}
			if !edgeClosedWithin(c, br, 2*time.Second) {
				t.Errorf("connection still open after the refusal")
			}
			edgeExpectNothing(t, o)
		})
	}
}

// TestServerForwardsWellFramedRequestOnce is the control case of the table
// above: a valid request with a fixed-length or chunked body, followed on
// the same connection by the start of another request, reaches the origin
// as exactly one well-framed request, re-serialized by the proxy.
func TestServerForwardsWellFramedRequestOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc string
		raw  string
	}{
		{"content-length", "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello"},
		{"chunked", "POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3;ext=1\r\nllo\r\n0\r\nX-Trailer: t\r\n\r\n"},
		{"empty chunked", "POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		// A bare ";" and a control byte in a chunk extension are accepted,
		// as nginx 1.22 accepts them; the extensions never reach the
		// origin, which gets the body chunked afresh.
		{"lenient chunk extensions", "POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n2;\r\nhe\r\n3;a\x01b=;\r\nllo\r\n0\r\n\r\n"},
		{"absolute-form target agreeing with Host", "POST http://A.test/up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			o := edgeStartOrigin(t, nil)
			s := edgeStart(t, edgeConfig(o.URL, nil), nil)
			c := edgeDial(t, edgeAddr(t, s))
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			resp, body := edgeRead(t, bufio.NewReader(c), "POST")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
			}
			raw := o.Raw()
			rd := bufio.NewReader(bytes.NewReader(raw))
			req, err := http.ReadRequest(rd)
			if err != nil {
				t.Fatalf("origin received %q: %v", raw, err)
			}
			got, err := io.ReadAll(req.Body)
			want := "hello"
			if tc.desc == "empty chunked" {
				want = ""
			}
			if err != nil || string(got) != want {
				t.Fatalf("origin body %q (%v), want %q; received %q", got, err, want, raw)
			}
			if rest, _ := io.ReadAll(rd); len(rest) > 0 {
				t.Fatalf("origin received %q after the request", rest)
			}
			if bytes.Contains(raw, []byte(";")) {
				t.Fatalf("a chunk extension reached the origin: %q", raw)
			}
			if req.Method != "POST" || req.URL.Path != "/up" || req.Host != "a.test" {
				t.Fatalf("origin got %s %s Host %q", req.Method, req.URL, req.Host)
			}
		})
	}
}

// TestServerRefusesBadChunkMidBody: a chunked body whose framing breaks
// after the proxy started forwarding it is still answered 400 with the
// connection closed, and the origin never gets a whole request.
func TestServerRefusesBadChunkMidBody(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, nil)
	s := edgeStart(t, edgeConfig(o.URL, nil), nil)
	c := edgeDial(t, edgeAddr(t, s))
	first := strings.Repeat("f", 2000)
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n"+first+"\r\n")
	time.Sleep(50 * time.Millisecond) // let the first chunk go through
	io.WriteString(c, "zz\r\nabc\r\n0\r\n\r\n")
	br := bufio.NewReader(c)
	resp, body := edgeRead(t, br, "POST")
	if resp.StatusCode != 400 || !resp.Close {
		t.Fatalf("got %d %q close=%v, want 400 with close", resp.StatusCode, body, resp.Close)
	}
	if !edgeClosedWithin(c, br, 2*time.Second) {
		t.Fatal("connection still open after the refusal")
	}
	if n := o.Requests(); n != 0 {
		t.Fatalf("origin read %d whole requests, want 0", n)
	}
}

// TestServerServesPipelinedRequests: requests sent back to back in one
// write, bodies included, are each answered in order on the connection,
// and each reaches the origin as its own request.
func TestServerServesPipelinedRequests(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, nil)
	s := edgeStart(t, edgeConfig(o.URL, nil), nil)
	c := edgeDial(t, edgeAddr(t, s))
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n"+
		"POST /2 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello"+
		"POST /3 HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+
		"GET /4 HTTP/1.1\r\nHost: a.test\r\n\r\n")
	br := bufio.NewReader(c)
	for i, m := range []string{"GET", "POST", "POST", "GET"} {
		if resp, body := edgeRead(t, br, m); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("response %d: %d %q", i+1, resp.StatusCode, body)
		}
	}
	if got := o.Bodies(); len(got) != 4 || got[1] != 5 || got[2] != 3 {
		t.Fatalf("origin bodies %v, want [0 5 3 0]", got)
	}
}

// TestServerBareLFHeadEndAcrossReads: a head whose bare-LF ending comes
// in a later packet is refused as soon as it arrives, while a CRLF CRLF
// split the same way is served.
func TestServerBareLFHeadEndAcrossReads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc, first, second string
		status              int
	}{
		{"bare LF", "GET /up HTTP/1.1\r\nHost: a.test\n", "\r\n", 400},
		{"CRLF", "GET /up HTTP/1.1\r\nHost: a.test\r\n\r", "\n", 200},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			o := edgeStartOrigin(t, nil)
			s := edgeStart(t, edgeConfig(o.URL, nil), nil)
			c := edgeDial(t, edgeAddr(t, s))
			if _, err := io.WriteString(c, tc.first); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // two reads on the proxy's side
			start := time.Now()
			if _, err := io.WriteString(c, tc.second); err != nil {
				t.Fatal(err)
			}
			resp, body := edgeRead(t, bufio.NewReader(c), "GET")
			if resp.StatusCode != tc.status {
				t.Errorf("status %d (%q), want %d", resp.StatusCode, body, tc.status)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("answered after %v, want at once", d)
			}
		})
	}
}
