package pluginhost_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/pluginhost"
)

// rig is a real origin and a real front server on loopback, with the host's
// plugins run around each request in the proxy's order.
type rig struct {
	url    string
	hits   atomic.Int64 // requests the origin served
	client *http.Client
}

// startOrigin serves 200 "origin\n" and echoes what the plugins added to
// the request, so tests see it from the client side.
func startOrigin(t *testing.T, r *rig) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		r.hits.Add(1)
		var order []string
		for _, v := range ctx.Request.Header.PeekAll("X-Order") {
			order = append(order, string(v))
		}
		ctx.Response.Header.Set("X-Seen-Order", strings.Join(order, ","))
		ctx.Response.Header.SetBytesV("X-Seen-Budget-Ms", ctx.Request.Header.Peek("X-Probe-Budget-Ms"))
		ctx.Response.Header.SetBytesV("X-Seen-Guide", ctx.Request.Header.Peek("X-Guide-Plugin"))
		ctx.Response.Header.SetBytesV("X-Seen-Addheader", ctx.Request.Header.Peek("X-Spillway-Plugin"))
		ctx.Response.Header.SetBytesV("X-Seen-Target", ctx.Request.Header.RequestURI())
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("origin\n")
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// startRig starts an origin and a real Spillway proxy in front of it that
// runs h's plugins; pluginDisabled sets the service's plugin_disabled.
func startRig(t *testing.T, h *pluginhost.Host, pluginDisabled ...bool) *rig {
	t.Helper()
	r := &rig{client: &http.Client{Timeout: 10 * time.Second}}
	cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{{
		Name:           "plugins",
		PluginDisabled: len(pluginDisabled) > 0 && pluginDisabled[0],
		Locations: []configs.Location{{
			Path:     "/",
			Backends: []configs.Backend{{URL: "http://" + startOrigin(t, r)}},
		}},
	}}}
	r.url = startProxy(t, cfg, h)
	t.Cleanup(r.client.CloseIdleConnections)
	return r
}

// startProxy serves cfg with h's plugins until the test ends and returns
// the proxy's URL.
func startProxy(t *testing.T, cfg *configs.Config, h *pluginhost.Host) string {
	t.Helper()
	return "http://" + startServer(t, cfg, fastproxy.Options{Logger: quiet, Plugins: h}).Addrs()[0].String()
}

// startServer serves cfg with opts until the test ends.
func startServer(t *testing.T, cfg *configs.Config, opts fastproxy.Options) *fastproxy.Server {
	t.Helper()
	srv, err := fastproxy.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

// reply is what a client got.
type reply struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

func (r *rig) do(t *testing.T, method, path string, header map[string]string) reply {
	t.Helper()
	got, err := r.try(method, path, header)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// try is do for goroutines other than the test's, which may not call Fatal.
func (r *rig) try(method, path string, header map[string]string) (reply, error) {
	req, err := http.NewRequest(method, r.url+path, nil)
	if err != nil {
		return reply{}, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
	}
	return reply{resp.StatusCode, resp.Header, string(b), time.Since(start)}, nil
}

func (r *rig) get(t *testing.T, path string) reply { return r.do(t, "GET", path, nil) }

// load runs pluginhost.Load on dir with settings and closes the host at
// the end of the test.
func load(t *testing.T, dir string, settings map[string]configs.PluginSettings, log *slog.Logger) *pluginhost.Host {
	t.Helper()
	if log == nil {
		log = quiet
	}
	h, err := pluginhost.Load(&configs.Config{PluginDirectory: dir, Plugins: settings}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// quiet discards the log of tests that do not look at it.
var quiet = slog.New(slog.DiscardHandler)

// logBuffer collects log output from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLog() (*slog.Logger, *logBuffer) {
	b := new(logBuffer)
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func settings(name string, timeout time.Duration, config map[string]any) map[string]configs.PluginSettings {
	return map[string]configs.PluginSettings{name: {Timeout: configs.Duration(timeout), Config: config}}
}
