package pluginhost_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spillway-lb/spillway/adapter"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/examples/addheader/headerplugin"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// browserRequest is a typical browser request with the backend's answer
// already in its response, as the proxy hands it to the host.
func browserRequest() *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI("http://shop.example/catalog/items?page=2")
	for _, kv := range [][2]string{
		{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/131.0"},
		{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{"Accept-Language", "en-US,en;q=0.5"},
		{"Accept-Encoding", "gzip, deflate, br"},
		{"Referer", "http://shop.example/catalog"},
		{"Cookie", "session=3f2a9c; theme=dark"},
		{"Upgrade-Insecure-Requests", "1"},
		{"Sec-Fetch-Dest", "document"},
		{"Sec-Fetch-Mode", "navigate"},
		{"Sec-Fetch-Site", "same-origin"},
		{"Priority", "u=0, i"},
	} {
		req.Header.Set(kv[0], kv[1])
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "max-age=60")
	ctx.Response.Header.Set("ETag", `"abc123"`)
	ctx.Response.Header.Set("Vary", "Accept-Encoding")
	ctx.Response.SetBodyString("<html>items</html>")
	return ctx
}

// minimalRequest is what wrk sends and an nginx origin answers, as in the
// rig: a request with Host only, an answer with nginx's seven headers.
func minimalRequest() *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI("/")
	req.Header.SetHost("127.0.0.1:8080")
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	ctx.Response.Header.Set("Server", "nginx/1.22.1")
	ctx.Response.Header.Set("Date", "Wed, 02 Dec 2026 03:00:00 GMT")
	ctx.Response.Header.SetContentType("text/plain")
	ctx.Response.Header.Set("Last-Modified", "Wed, 02 Dec 2026 01:00:00 GMT")
	ctx.Response.Header.Set("ETag", `"692e4a50-c"`)
	ctx.Response.Header.Set("Accept-Ranges", "bytes")
	ctx.Response.SetBodyString("hello world\n")
	return ctx
}

// BenchmarkHost runs both phases of one in-process plugin over a browser
// request (and, as "addheader-minimal", over the rig's minimal one): what
// a request through Spillway pays for its plugin chain. "adapter" is the
// conversions alone, without the host: the difference to "noop" is the
// host's own cost (the call, the plugin's context, the watchdog's slot).
func BenchmarkHost(b *testing.B) {
	b.Run("adapter", func(b *testing.B) {
		ctx := browserRequest()
		measure(b, func() {
			x := adapter.Acquire(ctx)
			x.Request()
			x.ApplyRequest()
			x.Response()
			x.ApplyResponse()
			adapter.Release(x)
		})
	})
	for _, c := range []struct {
		name string
		hs   []plugin.Handler
	}{
		{"noop", []plugin.Handler{noop{}}},
		// A second plugin costs its own context and call in each phase.
		{"noop+addheader", []plugin.Handler{noop{}, headerplugin.New()}},
		{"addheader", []plugin.Handler{headerplugin.New()}},
		{"addheader-minimal", []plugin.Handler{headerplugin.New()}},
	} {
		b.Run(c.name, func(b *testing.B) {
			h, err := pluginhost.New(c.hs, nil, quiet)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(b.Context())
			ctx := browserRequest()
			if c.name == "addheader-minimal" {
				ctx = minimalRequest()
			}
			measure(b, func() {
				x, _ := h.Request(ctx)
				x.Response(ctx)
				x.Release()
			})
		})
	}
}

// measure runs f b.N times and reports, next to ns/op, the process's CPU
// time per op (cpu-ns/op, garbage collection included): on a machine
// shared with other work, wall time swings with the load while CPU time
// stays comparable between runs.
func measure(b *testing.B, f func()) {
	b.ReportAllocs()
	before := cpuTime()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r) //nolint:errcheck // cannot fail for SELF
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
