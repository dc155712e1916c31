package fastproxy

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// A backend that breaks off a streamed answer (closes before its
// Content-Length, or inside a chunk) cuts the client's answer short, and
// the proxy says so in its log, naming the backend and the target: the
// access log has already recorded the status the answer began with. A
// client that goes away mid-answer is not the backend's fault and logs no
// warning.
func TestBackendBreakingOffAStreamedAnswerIsLogged(t *testing.T) {
	origin, _ := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		defer c.Close()
		switch req.URL.Path {
		case "/sized":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("s", 100000))
		case "/chunked":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n"+strings.Repeat("c", 65536)+"\r\n100\r\nshort")
		case "/slow": // whole, but slower than the client that leaves
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
			for i := 0; i < 100; i++ {
				if _, err := io.WriteString(c, strings.Repeat("w", 100000)); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
	logs := &lockedBuffer{}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}},
		Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	u, _ := url.Parse(origin)

	for _, path := range []string{"/sized", "/chunked"} {
		resp, err := pathClient().Get("http://" + px.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || err == nil {
			t.Errorf("%s: %d, %d bytes, err %v; want 200 cut short with an error", path, resp.StatusCode, n, err)
		}
	}
	c := edgeDial(t, px.Addr)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	io.ReadFull(c, make([]byte, 200000))
	c.Close()
	time.Sleep(300 * time.Millisecond) // the proxy's next write to it fails

	deadline := time.Now().Add(5 * time.Second)
	var lines []string
	for time.Now().Before(deadline) {
		lines = lines[:0]
		for _, l := range strings.Split(string(logs.Bytes()), "\n") {
			if strings.Contains(l, "broke off") {
				lines = append(lines, l)
			}
		}
		if len(lines) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"target=/sized", "target=/chunked"} {
		found := false
		for _, l := range lines {
			if strings.Contains(l, want) && strings.Contains(l, "level=WARN") && strings.Contains(l, "backend="+u.Host) {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning naming %s and backend %s in\n%s", want, u.Host, logs.Bytes())
		}
	}
	if strings.Contains(string(logs.Bytes()), "target=/slow") {
		t.Errorf("a client that left was logged as the backend's fault:\n%s", logs.Bytes())
	}
}
