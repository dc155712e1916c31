package fastproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestRequestWithoutContentTypeReachesTheBackendWithout: fasthttp gives a
// request with a body and no Content-Type "application/octet-stream" when
// it writes it; the backend must get what the client sent, not a type
// the client never claimed. A Content-Type the client sent passes as is.
func TestRequestWithoutContentTypeReachesTheBackendWithout(t *testing.T) {
	big := strings.Repeat("b", inlineBodyMax+1) // streamed, not held
	for _, tc := range []struct{ desc, raw string }{
		{"small sized body", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"},
		{"large sized body", "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big},
		{"chunked body", "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			o := edgeStartOrigin(t, nil)
			px := connProxy(t, o.URL)
			if resp := pathRaw(t, px.Addr, tc.raw, "POST")[0]; resp.StatusCode != 200 {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			raw := o.Raw()
			head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
			if bytes.Contains(bytes.ToLower(head), []byte("content-type")) {
				t.Errorf("backend got a Content-Type the client did not send:\n%s", head)
			}
		})
	}
	t.Run("sent Content-Type kept", func(t *testing.T) {
		o := edgeStartOrigin(t, nil)
		px := connProxy(t, o.URL)
		pathRaw(t, px.Addr, "POST /up HTTP/1.1\r\nHost: h\r\nContent-Type: text/csv\r\nContent-Length: 3\r\n\r\na,b", "POST")
		if raw := o.Raw(); !bytes.Contains(raw, []byte("\r\nContent-Type: text/csv\r\n")) {
			t.Errorf("backend did not get the client's Content-Type:\n%s", raw)
		}
	})
}

// TestResponseWithoutContentTypeReachesTheClientWithout: likewise a
// backend's answer without Content-Type reaches the client without one,
// whether it is read whole, streamed with a length, or chunked.
func TestResponseWithoutContentTypeReachesTheClientWithout(t *testing.T) {
	for _, tc := range []struct {
		desc string
		size int
		head string // framing lines of the answer
	}{
		{"small body", 5, "Content-Length: 5\r\n"},
		{"large body", inlineBodyMax + 1, "Content-Length: " + strconv.Itoa(inlineBodyMax+1) + "\r\n"},
		{"chunked body", 5, "Transfer-Encoding: chunked\r\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			body := strings.Repeat("r", tc.size)
			wire := body
			if strings.HasPrefix(tc.head, "Transfer-Encoding") {
				wire = fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", tc.size, body)
			}
			origin := pathRawOrigin(t, func(c net.Conn) {
				if _, err := pathReadHead(bufio.NewReader(c)); err == nil {
					io.WriteString(c, "HTTP/1.1 200 OK\r\n"+tc.head+"\r\n"+wire)
				}
			})
			px := connProxy(t, origin)
			resp := pathRaw(t, px.Addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET")[0]
			got, _ := readAllString(resp)
			if resp.StatusCode != 200 || got != body {
				t.Fatalf("status %d, %d of %d body bytes", resp.StatusCode, len(got), tc.size)
			}
			if v, ok := resp.Header["Content-Type"]; ok {
				t.Errorf("client got Content-Type %q the backend did not send", v)
			}
		})
	}
}
