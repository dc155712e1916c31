package fastproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/accesslog"
)

// An answer whose body streams is logged, and counted in the metrics,
// when its body ends: with the body bytes the client was given, not the
// announced length, and the time to the last of them, not to the head.
// So a slow download shows its length of time, one the backend broke off
// shows what got through, and an HTTP/1.0 client's close-delimited answer
// is logged like any other (and still reaches it without chunked framing).
func TestAccessLogRecordsAStreamedAnswerWhenItEnds(t *testing.T) {
	const pause = 300 * time.Millisecond
	origin, _ := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		switch req.URL.Path {
		case "/slow":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n"+strings.Repeat("s", 100000))
			time.Sleep(pause)
			io.WriteString(c, strings.Repeat("s", 200000))
		case "/chunked":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
			for range 2 {
				fmt.Fprintf(c, "%x\r\n%s\r\n", 100000, strings.Repeat("c", 100000))
				time.Sleep(pause)
			}
			io.WriteString(c, "0\r\n\r\n")
		case "/broken":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("b", 100000))
			c.Close()
		}
	})
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := accesslog.Open(path, accesslog.FormatJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}},
		Options{AccessLog: l, Metrics: true})

	for _, p := range []string{"/slow", "/chunked", "/broken"} {
		resp, err := pathClient().Get("http://" + px.Addr + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	head, body := http10Get(t, px.Addr, "GET /chunked HTTP/1.0\r\nHost: h\r\n\r\n")
	if strings.Contains(strings.ToLower(head), "transfer-encoding") || len(body) != 200000 {
		t.Errorf("HTTP/1.0 client: head %q and %d body bytes; want no Transfer-Encoding and 200000", head, len(body))
	}
	// The last answer is logged when its body is closed, just after the
	// client has it all.
	waitMetric(t, px.srv, `spillway_requests_total{port="`+portOf(px.Addr)+`",code="2xx"}`, 4)

	got := readAccess(t, l, path)
	want := []struct {
		uri, proto string
		bytes      int64
		slow       bool
	}{
		{"/slow", "HTTP/1.1", 300000, true},
		{"/chunked", "HTTP/1.1", 200000, true},
		{"/broken", "HTTP/1.1", 100000, false},
		{"/chunked", "HTTP/1.0", 200000, true},
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.URI != w.uri || g.Proto != w.proto || g.Status != 200 || g.Method != "GET" {
			t.Errorf("line %d: %+v; want GET %s %s 200", i, g, w.uri, w.proto)
		}
		if g.Bytes != w.bytes {
			t.Errorf("line %d (%s): %d bytes, want %d", i, w.uri, g.Bytes, w.bytes)
		}
		if w.slow && g.DurationMs < float64(pause/time.Millisecond) {
			t.Errorf("line %d (%s): %vms, want at least the backend's %v pause", i, w.uri, g.DurationMs, pause)
		}
	}
}

// portOf returns the port of a host:port address.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// A download still streaming when the shutdown's grace period ends is cut,
// and its line (with the bytes that got through) is in the access log by
// the time Shutdown returns, so closing the log after it loses nothing.
func TestStreamCutByShutdownIsLogged(t *testing.T) {
	origin, _ := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
		for range 500 {
			if _, err := io.WriteString(c, strings.Repeat("d", 10000)); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := accesslog.Open(path, accesslog.FormatJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}},
		Options{AccessLog: l})
	resp, err := pathClient().Get("http://" + px.Addr + "/download")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go io.Copy(io.Discard, resp.Body)
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	px.srv.Shutdown(ctx)
	got := readAccess(t, l, path)
	if len(got) != 1 || got[0].URI != "/download" || got[0].Bytes <= 0 || got[0].Bytes >= 100000000 {
		t.Fatalf("access log after the shutdown: %+v; want the cut download with the bytes sent", got)
	}
	if got[0].DurationMs < 400 {
		t.Errorf("the cut download lasted %vms in the log, want about 500 (until the cut)", got[0].DurationMs)
	}
}
