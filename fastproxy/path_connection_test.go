package fastproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// connProxy serves one catch-all location in front of origin with
// passive health ejecting after two failures, so a request the proxy
// wrongly blames on the backend shows within a few requests.
func connProxy(t *testing.T, origin string) *pathProxy {
	t.Helper()
	return pathStartProxy(t, &configs.Config{
		Services:      []configs.Service{pathService("", pathLoc("/", origin))},
		PassiveHealth: configs.PassiveHealth{FailureThreshold: 2, Backoff: configs.Duration(time.Minute)},
	}, Options{Logger: edgeTestLogger()})
}

// TestConnectionCannotDeleteHost: a client naming Host in Connection still
// reaches the backend with its Host; each such request is answered by the
// backend, which is never blamed and ejected for it.
func TestConnectionCannotDeleteHost(t *testing.T) {
	for _, conn := range []string{"Host", "host", "keep-alive, Host", "HOST , close"} {
		t.Run(conn, func(t *testing.T) {
			o := pathEchoOrigin(t, "o")
			px := connProxy(t, o.URL)
			for i := range 10 {
				resp := pathRaw(t, px.Addr, "GET /x HTTP/1.1\r\nHost: front.example\r\nConnection: "+conn+"\r\n\r\n", "GET")[0]
				body, _ := readAllString(resp)
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: status %d %q, want 200 from the backend", i+1, resp.StatusCode, body)
				}
				if h := pathSeenBy(t, body).Host; h != "front.example" {
					t.Fatalf("request %d: backend got Host %q, want front.example", i+1, h)
				}
			}
			if n := o.Hits.Load(); n != 10 {
				t.Errorf("backend got %d of 10 requests", n)
			}
		})
	}
}

// connBodyOrigin reads each request's body, reporting on first when the
// first body byte arrives, and answers with the number of body bytes.
func connBodyOrigin(t *testing.T, first chan<- struct{}) string {
	return pathRawOrigin(t, func(c net.Conn) {
		req, err := pathReadHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		var one [1]byte
		if _, err := io.ReadFull(req.Body, one[:]); err != nil {
			return
		}
		first <- struct{}{}
		n, err := io.Copy(io.Discard, req.Body)
		if err != nil {
			return
		}
		body := strconv.FormatInt(n+1, 10)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})
}

// TestConnectionCannotDeleteContentLength: naming Content-Length in
// Connection does not turn a large upload into an empty body that the
// proxy then reads whole into memory to hold for a retry. The upload still
// streams: the backend gets its first bytes while the client has sent
// only a part, and then the whole body. Chunked uploads likewise.
func TestConnectionCannotDeleteContentLength(t *testing.T) {
	const size, part = 8 << 20, 256 << 10
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			first := make(chan struct{}, 1)
			px := connProxy(t, connBodyOrigin(t, first))
			c := edgeDial(t, px.Addr)
			c.SetDeadline(time.Now().Add(30 * time.Second))
			head := "POST /up HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\n"
			framed := func(p string) string { return p }
			if chunked {
				head += "Transfer-Encoding: chunked\r\n\r\n"
				framed = func(p string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(p), p) }
			} else {
				head += "Content-Length: " + strconv.Itoa(size) + "\r\n\r\n"
			}
			if _, err := io.WriteString(c, head+framed(strings.Repeat("a", part))); err != nil {
				t.Fatal(err)
			}
			select {
			case <-first:
			case <-time.After(5 * time.Second):
				t.Fatalf("backend got no body byte while the client had sent %d of %d: the proxy is holding the body", part, size)
			}
			rest := framed(strings.Repeat("b", size-part))
			if chunked {
				rest += "0\r\n\r\n"
			}
			if _, err := io.WriteString(c, rest); err != nil {
				t.Fatal(err)
			}
			resp, body := edgeRead(t, bufio.NewReader(c), "POST")
			if resp.StatusCode != 200 || body != strconv.Itoa(size) {
				t.Fatalf("status %d, backend got %q body bytes, want 200 and %d", resp.StatusCode, body, size)
			}
		})
	}
}

// TestBackendConnectionCannotDeleteContentLength: a backend naming
// Content-Length in Connection does not lose its answer's framing on the
// way to the client, whether the answer is read whole or streamed.
func TestBackendConnectionCannotDeleteContentLength(t *testing.T) {
	for _, size := range []int{100, inlineBodyMax + 1, 1 << 20} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			payload := strings.Repeat("z", size)
			origin := pathRawOrigin(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					if _, err := pathReadHead(br); err != nil {
						return
					}
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: %d\r\n\r\n%s", size, payload)
				}
			})
			px := connProxy(t, origin)
			for i := range 2 { // the second on the same client connection
				resp, body := pathDo(t, px, "GET", "h", "/", nil, nil)
				if resp.StatusCode != 200 || body != payload {
					t.Fatalf("request %d: status %d, %d of %d body bytes", i+1, resp.StatusCode, len(body), size)
				}
				if resp.ContentLength != int64(size) {
					t.Errorf("request %d: client got Content-Length %d, want %d", i+1, resp.ContentLength, size)
				}
			}
		})
	}
}
