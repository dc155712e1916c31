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
	origin := pathFastOrigin(tb)
	svc := pathService("bench.example", pathLoc("/api/", origin))
	svc.Headers = &configs.Headers{RequestHeaders: map[string]string{"X-Via": "spillway"}}
	px := pathStartProxy(tb, &configs.Config{Services: []configs.Service{svc}}, Options{})
	k := &pathKeepAlive{
		hc:   &fasthttp.HostClient{Addr: px.Addr, MaxConns: 1, ReadTimeout: 5 * time.Second},
		req:  fasthttp.AcquireRequest(),
		resp: fasthttp.AcquireResponse(),
	}
	k.req.SetRequestURI("http://bench.example/api/users/42?page=2&sort=name")
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
