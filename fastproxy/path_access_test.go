package fastproxy

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/accesslog"
	"github.com/valyala/fasthttp"
)

// accessLine is one JSON access log line.
type accessLine struct {
	Time       string  `json:"time"`
	Client     string  `json:"client"`
	Method     string  `json:"method"`
	URI        string  `json:"uri"`
	Proto      string  `json:"proto"`
	Status     int     `json:"status"`
	Bytes      int64   `json:"bytes"`
	Referer    string  `json:"referer"`
	UserAgent  string  `json:"user_agent"`
	Host       string  `json:"host"`
	Backend    string  `json:"backend"`
	DurationMs float64 `json:"duration_ms"`
}

// readAccess closes l and parses the lines of the file at path.
func readAccess(t *testing.T, l *accesslog.Log, path string) []accessLine {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []accessLine
	for _, s := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var a accessLine
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			t.Fatalf("line %q: %v", s, err)
		}
		lines = append(lines, a)
	}
	return lines
}

// Every answer is logged once, whoever gave it: the backend, the proxy
// (404, 502), the edge (a refused head, a malformed one fasthttp could not
// read, a panic's 500), a tunnel's 101; with the client the trusted
// proxies name and the backend tried.
func TestAccessLogRecordsEveryAnswer(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	ws := newWSOrigin()
	wsOrigin := pathStartOrigin(t, ws.ServeHTTP)
	down := pathClosedURL(t)
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := accesslog.Open(path, accesslog.FormatJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := edgeConfig(o.URL, func(c *configs.Config) {
		c.TrustedProxies = []string{"127.0.0.0/8"}
		c.Services[0].Host = "app.example"
		c.Services[0].Locations = append(c.Services[0].Locations,
			configs.Location{Path: "/down/", Backends: []configs.Backend{{URL: down}}},
			configs.Location{Path: "/ws/", Backends: []configs.Backend{{URL: wsOrigin.URL}}})
	})
	wrap := func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/panic" {
				panic("boom")
			}
			next(ctx)
		}
	}
	s := edgeStartWith(t, cfg, Options{Logger: edgeTestLogger(), AccessLog: l}, wrap)
	addr := edgeAddr(t, s)

	send := func(raw string) {
		c := edgeDial(t, addr)
		io.WriteString(c, raw)
		io.Copy(io.Discard, bufio.NewReader(c)) // until the proxy closes
	}
	send("GET /a?b=1 HTTP/1.1\r\nHost: app.example\r\nReferer: https://r.example/\r\nUser-Agent: t/1\r\n" +
		"X-Forwarded-For: 198.51.100.4\r\nConnection: close\r\n\r\n")
	send("GET / HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n")
	send("GET /down/x HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n")
	send("POST / HTTP/1.1\r\nHost: app.example\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
	send("GET / HTTP/1.1\r\nHost: app.example\r\nBad Name: x\r\n\r\n")
	send("GET /panic HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n")
	send("GET /big HTTP/1.1\r\nHost: app.example\r\nX-Big: " + strings.Repeat("b", 20<<10) + "\r\n\r\n")
	c := edgeDial(t, addr)
	io.WriteString(c, "GET /ws/chat HTTP/1.1\r\nHost: app.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	c.Close()
	ws.waitEnded(t, 5*time.Second)

	u, _ := url.Parse(o.URL)
	d, _ := url.Parse(down)
	w, _ := url.Parse(wsOrigin.URL)
	want := []accessLine{
		{Client: "198.51.100.4", Method: "GET", URI: "/a?b=1", Status: 200, Referer: "https://r.example/", UserAgent: "t/1", Host: "app.example", Backend: u.Host},
		{Client: "127.0.0.1", Method: "GET", URI: "/", Status: 404, Bytes: int64(len(msgNotFound) + 1), Host: "other.example"},
		{Client: "127.0.0.1", Method: "GET", URI: "/down/x", Status: 502, Bytes: int64(len(msgBadGateway) + 1), Host: "app.example", Backend: d.Host},
		{Client: "127.0.0.1", Method: "POST", URI: "/", Status: 400, Host: "app.example"},
		{Client: "127.0.0.1", Status: 400},
		{Client: "127.0.0.1", Method: "GET", URI: "/panic", Status: 500, Bytes: int64(len("internal server error") + 1), Host: "app.example"},
		{Client: "127.0.0.1", Status: 431, Bytes: int64(len("Request Header Fields Too Large") + 1)}, // fasthttp's ErrorHandler: no head
		{Client: "127.0.0.1", Method: "GET", URI: "/ws/chat", Status: 101, Bytes: -1, Host: "app.example", Backend: w.Host},
	}
	got := readAccess(t, l, path)
	if b, _ := os.ReadFile(path); testing.Verbose() {
		t.Logf("%s", b)
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d: %+v", len(got), len(want), got)
	}
	for i, g := range got {
		wl := want[i]
		if i == 0 {
			wl.Bytes = g.Bytes // the echo's length
			if g.Bytes <= 0 {
				t.Errorf("line 0: bytes %d", g.Bytes)
			}
		}
		if wl.Status == 400 {
			// What of a refused head is logged depends on how far fasthttp
			// read it; the status and client are what must be right.
			wl.Method, wl.URI, wl.Host, wl.Bytes = g.Method, g.URI, g.Host, g.Bytes
		}
		if at, err := time.Parse(time.RFC3339Nano, g.Time); err != nil || time.Since(at) > time.Minute || g.DurationMs < 0 || g.DurationMs > 10000 {
			t.Errorf("line %d: time %q duration %vms", i, g.Time, g.DurationMs)
		}
		if g.Proto != "HTTP/1.1" && wl.Status != 400 && wl.Status != 431 {
			t.Errorf("line %d: proto %q", i, g.Proto)
		}
		g.Time, g.DurationMs, g.Proto = "", 0, ""
		if g != wl {
			t.Errorf("line %d:\n got %+v\nwant %+v", i, g, wl)
		}
	}
}
