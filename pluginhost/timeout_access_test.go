package pluginhost_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/fastproxy/accesslog"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// A plugin past its budget may never return, so the 504 the watchdog
// sends must reach the access log and the metrics when it is sent, once,
// and not again when the plugin returns after all.
func TestPluginTimeoutIsInTheAccessLogWhenAnswered(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("origin") }}
	go origin.Serve(ln)
	t.Cleanup(func() { origin.Shutdown() })

	block := make(chan struct{})
	var unblock sync.Once
	t.Cleanup(func() { unblock.Do(func() { close(block) }) })
	h, err := pluginhost.New([]plugin.Handler{hang{block: block}},
		map[string]configs.PluginSettings{"hang": {Timeout: configs.Duration(100 * time.Millisecond)}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	logFile := filepath.Join(t.TempDir(), "access.log")
	al, err := accesslog.Open(logFile, "json", func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{{
		Name:      "hang",
		Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: "http://" + ln.Addr().String()}}}},
	}}}
	srv := startServer(t, cfg, fastproxy.Options{Logger: quiet, Plugins: h, AccessLog: al, Metrics: true})

	lines := func() []map[string]any {
		t.Helper()
		al.Flush()
		data, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if l == "" {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("not JSON: %q", l)
			}
			out = append(out, v)
		}
		return out
	}
	count5xx := func() string {
		var buf bytes.Buffer
		srv.WriteMetrics(&buf)
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.HasPrefix(l, `spillway_service_requests_total{service="hang",code="5xx"}`) {
				return strings.Fields(l)[1]
			}
		}
		return ""
	}

	c := dial(t, srv.Addrs()[0].String())
	get504(t, c, "/block")
	// The line is recorded just after the 504 is written.
	got := lines()
	for deadline := time.Now().Add(2 * time.Second); len(got) == 0 && time.Now().Before(deadline); got = lines() {
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != 1 || got[0]["status"] != float64(504) || got[0]["uri"] != "/block" ||
		got[0]["bytes"] != float64(len("Gateway Timeout\n")) || got[0]["method"] != "GET" {
		t.Fatalf("access log while the plugin still runs: %v; want one 504 line for GET /block with its 16 bytes", got)
	}
	if n := count5xx(); n != "1" {
		t.Errorf("5xx answers of the service while the plugin still runs: %q, want 1", n)
	}

	// The plugin returns; its request's own answer goes nowhere and must
	// not be logged or counted. There is no signal for that goroutine's
	// end, so the check gives it time, then sends one more request.
	unblock.Do(func() { close(block) })
	time.Sleep(300 * time.Millisecond)
	c2 := dial(t, srv.Addrs()[0].String())
	if _, err := c2.Write([]byte("GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(c2); !bytes.Contains(b, []byte("200 OK")) {
		t.Fatalf("GET /after: %q", b)
	}
	got = lines()
	if len(got) != 2 || got[0]["status"] != float64(504) || got[1]["uri"] != "/after" {
		t.Errorf("access log after the plugin returned: %v; want the 504 once, then /after", got)
	}
	if n := count5xx(); n != "1" {
		t.Errorf("5xx answers of the service after the plugin returned: %q, want 1", n)
	}
}
