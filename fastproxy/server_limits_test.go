package fastproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

func edgeBodyCap(n int64) func(*configs.Config) {
	return func(c *configs.Config) { c.Limits.MaxBodyBytes = n }
}

// TestServerEnforcesMaxBodyBytes: with limits.max_body_bytes set, a larger
// body is answered 413 with the connection closed, whether its size is
// announced, announced with Expect: 100-continue (refused before the body
// is invited), or only discovered while a chunked body streams; a body
// within the limit passes.
func TestServerEnforcesMaxBodyBytes(t *testing.T) {
	t.Parallel()
	const limit = 1024
	big := strings.Repeat("b", 4*limit)
	var chunked strings.Builder
	chunked.WriteString("POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n")
	for i := 0; i < len(big); i += 256 {
		fmt.Fprintf(&chunked, "100\r\n%s\r\n", big[i:i+256])
	}
	chunked.WriteString("0\r\n\r\n")
	for _, tc := range []struct {
		desc   string
		raw    string
		status int
	}{
		{"content-length over the limit", fmt.Sprintf("POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n\r\n%s", len(big), big), 413},
		{"expect 100-continue over the limit", fmt.Sprintf("POST /up HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(big)), 413},
		{"chunked over the limit", chunked.String(), 413},
		{"content-length within the limit", fmt.Sprintf("POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n\r\n%s", limit, big[:limit]), 200},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			o := edgeStartOrigin(t, nil)
			s := edgeStart(t, edgeConfig(o.URL, edgeBodyCap(limit)), nil)
			c := edgeDial(t, edgeAddr(t, s))
			io.WriteString(c, tc.raw)
			br := bufio.NewReader(c)
			resp, body := edgeRead(t, br, "POST")
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d %q, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status == 200 {
				if got := o.Bodies(); len(got) != 1 || got[0] != limit {
					t.Fatalf("origin bodies %v, want one of %d bytes", got, limit)
				}
				return
			}
			if !resp.Close || !edgeClosedWithin(c, br, 2*time.Second) {
				t.Fatalf("connection not closed after %d", resp.StatusCode)
			}
			if n := o.Requests(); n != 0 {
				t.Fatalf("origin read %d whole requests, want 0", n)
			}
		})
	}
}

// TestServerExpectContinue: a client sending Expect: 100-continue gets
// "100 Continue" before it sends the body, and the body is forwarded.
func TestServerExpectContinue(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, nil)
	s := edgeStart(t, edgeConfig(o.URL, nil), nil)
	c := edgeDial(t, edgeAddr(t, s))
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("first line %q (%v), want 100 Continue", line, err)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("100 Continue followed by %q", blank)
	}
	io.WriteString(c, "hello")
	if resp, body := edgeRead(t, br, "POST"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
	}
	if got := o.Bodies(); len(got) != 1 || got[0] != 5 {
		t.Fatalf("origin bodies %v, want one of 5 bytes", got)
	}
}

// TestServerAcceptsBodiesOverIntLimits: with no max_body_bytes, a request
// announcing a body over 4 GiB is not refused by fasthttp's int limits: it
// reaches the origin, which sees the length as sent.
func TestServerAcceptsBodiesOverIntLimits(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, nil)
	s := edgeStart(t, edgeConfig(o.URL, nil), nil)
	c := edgeDial(t, edgeAddr(t, s))
	const size = 5 << 30
	fmt.Fprintf(c, "PUT /huge HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n\r\n", int64(size))
	chunk := strings.Repeat("h", 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(string(o.Raw()), fmt.Sprintf("Content-Length: %d\r\n", int64(size))) {
		if time.Now().After(deadline) {
			t.Fatalf("origin never got the head; received %q", o.Raw())
		}
		// Feed some body so a proxy that holds small bodies moves on.
		c.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(c, chunk)
	}
}

// TestRefusedUploadIsReadByTheClient: a client that sends a body the edge
// refuses (over max_body_bytes, by Content-Length or once a chunked body
// crosses it) without waiting for 100 Continue keeps sending after the
// 413. The proxy's close must not reset the connection under the answer:
// it half-closes and drains first, so Go's client, still writing, reads
// the 413 rather than "connection reset by peer".
func TestRefusedUploadIsReadByTheClient(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, nil)
	s := edgeStart(t, edgeConfig(o.URL, edgeBodyCap(1<<20)), nil)
	for _, chunked := range []bool{false, true} {
		for i := range 3 {
			body := io.Reader(bytes.NewReader(make([]byte, 16<<20)))
			if chunked {
				body = io.MultiReader(body)
			}
			req, err := http.NewRequest("POST", "http://"+edgeAddr(t, s)+"/up", body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatalf("chunked %v, upload %d: %v; want the 413", chunked, i, err)
			}
			resp.Body.Close()
			if resp.StatusCode != 413 {
				t.Fatalf("chunked %v, upload %d: %d, want 413", chunked, i, resp.StatusCode)
			}
		}
	}
}
