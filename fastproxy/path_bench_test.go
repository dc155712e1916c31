package fastproxy

import (
	"net"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// pathFastOrigin is a fasthttp origin answering a small fixed body; it
// allocates nothing per request, so the allocations measured through it
// are the proxy's.
func pathFastOrigin(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	body := []byte("hello, world")
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentType("text/plain")
		ctx.Response.SetBodyRaw(body)
	}}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// pathKeepAlive is a client of the proxy on one keep-alive connection,
// with a request prepared the way a browser would send it.
type pathKeepAlive struct {
	hc   *fasthttp.HostClient
	req  *fasthttp.Request
	resp *fasthttp.Response
}

func pathNewKeepAlive(tb testing.TB) *pathKeepAlive {
	return pathNewKeepAliveHost(tb, "bench.example", "bench.example")
}

// pathNewKeepAliveHost is pathNewKeepAlive with the service's host and the
// request's Host chosen, so a wildcard host can be measured too.
func pathNewKeepAliveHost(tb testing.TB, svcHost, reqHost string) *pathKeepAlive {
	return pathNewKeepAliveWith(tb, svcHost, reqHost, nil)
}

// pathNewKeepAliveWith is pathNewKeepAliveHost with the configuration
// changed by edit (which may be nil) before the proxy starts.
func pathNewKeepAliveWith(tb testing.TB, svcHost, reqHost string, edit func(*configs.Config)) *pathKeepAlive {
	return pathNewKeepAliveOpts(tb, svcHost, reqHost, edit, Options{})
}

// pathNewKeepAliveOpts is pathNewKeepAliveWith with the Server's Options.
func pathNewKeepAliveOpts(tb testing.TB, svcHost, reqHost string, edit func(*configs.Config), opts Options) *pathKeepAlive {
	origin := pathFastOrigin(tb)
	svc := pathService(svcHost, pathLoc("/api/", origin))
	svc.Headers = &configs.Headers{RequestHeaders: map[string]string{"X-Via": "spillway"}}
	cfg := &configs.Config{Services: []configs.Service{svc}}
	if edit != nil {
		edit(cfg)
	}
	px := pathStartProxy(tb, cfg, opts)
	k := &pathKeepAlive{
		hc:   &fasthttp.HostClient{Addr: px.Addr, MaxConns: 1, ReadTimeout: 5 * time.Second},
		req:  fasthttp.AcquireRequest(),
		resp: fasthttp.AcquireResponse(),
	}
	k.req.SetRequestURI("http://" + reqHost + "/api/users/42?page=2&sort=name")
	k.req.Header.Set("Accept", "application/json")
	k.req.Header.Set("X-Forwarded-For", "203.0.113.7")
	k.req.Header.Set("Connection", "keep-alive")
	tb.Cleanup(func() { fasthttp.ReleaseRequest(k.req); fasthttp.ReleaseResponse(k.resp) })
	return k
}

func (k *pathKeepAlive) do(tb testing.TB) {
	if err := k.hc.Do(k.req, k.resp); err != nil {
		tb.Fatal(err)
	}
	if k.resp.StatusCode() != 200 || len(k.resp.Body()) != 12 {
		tb.Fatalf("status %d body %q", k.resp.StatusCode(), k.resp.Body())
	}
}

// BenchmarkServeHTTPKeepAlive measures one small request through the proxy
// on a keep-alive connection, origin and client included. allocs/op counts
// every goroutine, so 0 means the proxy allocated nothing.
func BenchmarkServeHTTPKeepAlive(b *testing.B) {
	k := pathNewKeepAlive(b)
	for range 100 {
		k.do(b)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		k.do(b)
	}
}

// pathBenchRoutes is a port of several virtual hosts, exact and wildcard,
// with a default service, listed in no helpful order.
func pathBenchRoutes() *routes {
	r := &routes{}
	for _, h := range []string{"*.shop.example", "www.example", "*.api.example", "static.example",
		"admin.example", "v1.api.example", "*.cdn.example", ""} {
		s := newService(&configs.Service{Name: h, Host: h})
		if len(s.host) == 0 {
			r.fallback = s
		}
		r.services = append(r.services, s)
	}
	return r
}

// pathBenchHosts are Host values for each way of matching a service.
var pathBenchHosts = []struct{ name, host, want string }{
	{"exact", "Static.Example:8080", "static.example"},
	{"exact-over-wildcard", "v1.api.example", "v1.api.example"},
	{"wildcard", "Eu.CDN.example:443", "*.cdn.example"},
	{"fallback", "unknown.test", ""},
}

// BenchmarkRoutesMatch measures choosing a service by Host.
func BenchmarkRoutesMatch(b *testing.B) {
	r := pathBenchRoutes()
	for _, h := range pathBenchHosts {
		host := []byte(h.host)
		b.Run(h.name, func(b *testing.B) {
			if got := r.match(host).name; got != h.want {
				b.Fatalf("Host %s matched %q, want %q", h.host, got, h.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				r.match(host)
			}
		})
	}
}
