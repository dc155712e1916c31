package fastproxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/spillway-lb/spillway/configs"
)

// A backend that sends more than its answer holds (a body to a HEAD, more
// bytes than its Content-Length) leaves the rest in the connection; reused,
// the next request, maybe another client's, would read it as its answer.
// Such a connection is closed instead of pooled.
func TestExtraBytesAfterAnAnswerAreNotTakenForTheNext(t *testing.T) {
	junk := "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged" + strings.Repeat("j", 100<<10)
	origin, conns := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		switch req.URL.Path {
		case "/head-with-body": // HEAD, answered with a body anyway
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"+junk)
		case "/longer": // more than Content-Length says
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"+junk)
		case "/longer-streamed": // the same past inlineBodyMax, so the body streams
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n"+strings.Repeat("s", 70000)+junk)
		default:
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
		}
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}}, Options{})
	for _, first := range []string{"HEAD /head-with-body", "GET /longer", "GET /longer-streamed"} {
		pathRaw(t, px.Addr, first+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", strings.Fields(first)[0])
		resp, body := pathDo(t, px, "GET", "h", "/next", nil, nil)
		if resp.StatusCode != 200 || body != "real" {
			t.Fatalf("after %s: %d %q", first, resp.StatusCode, body)
		}
	}
	if n := conns(); n != 4 {
		t.Errorf("the origin saw %d connections, want 4 (each one left dirty is closed)", n)
	}
}
