package adapter

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// benchCtx is a RequestCtx holding browserRequest and typicalResponse, as
// the proxy has them when the response phase runs.
func benchCtx(tb testing.TB) *fasthttp.RequestCtx {
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(browserRequest))); err != nil {
		tb.Fatal(err)
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 51234}, nil)
	if err := ctx.Response.Read(bufio.NewReader(strings.NewReader(typicalResponse))); err != nil {
		tb.Fatal(err)
	}
	return ctx
}

// roundTrip is one request through both phases with one header set in
// each, written back. The two Del calls put ctx back as it was so every
// iteration does the same work; they are part of the measured cost.
func roundTrip(ctx *fasthttp.RequestCtx) {
	x := Acquire(ctx)
	defer Release(x)
	x.Request().Header.Set("X-Request-Id", "7f3a9c")
	x.ApplyRequest()
	x.Response().Header.Set("X-Served-By", "spillway")
	x.ApplyResponse()
	ctx.Request.Header.Del("X-Request-Id")
	ctx.Response.Header.Del("X-Served-By")
}

// requestHalf is the request phase alone with one header set.
func requestHalf(ctx *fasthttp.RequestCtx) {
	x := Acquire(ctx)
	defer Release(x)
	x.Request().Header.Set("X-Request-Id", "7f3a9c")
	x.ApplyRequest()
	ctx.Request.Header.Del("X-Request-Id")
}

func BenchmarkAdapterRoundTrip(b *testing.B) {
	ctx := benchCtx(b)
	measure(b, func() { roundTrip(ctx) })
}

func BenchmarkAdapterRequestHalf(b *testing.B) {
	ctx := benchCtx(b)
	measure(b, func() { requestHalf(ctx) })
}

// BenchmarkAdapterRequestConvertOnly converts without a change, the same
// work as fasthttpadaptor.ConvertRequest below.
func BenchmarkAdapterRequestConvertOnly(b *testing.B) {
	ctx := benchCtx(b)
	measure(b, func() {
		x := Acquire(ctx)
		_ = x.Request()
		Release(x)
	})
}

// BenchmarkAdapterNoPlugin is the cost when no plugin asks for anything.
func BenchmarkAdapterNoPlugin(b *testing.B) {
	ctx := benchCtx(b)
	measure(b, func() { Release(Acquire(ctx)) })
}

// BenchmarkFasthttpadaptorConvertRequest is fasthttp's own converter on
// the same request, with a new http.Request each time as its handler
// adaptor uses it.
func BenchmarkFasthttpadaptorConvertRequest(b *testing.B) {
	ctx := benchCtx(b)
	measure(b, func() {
		var r http.Request
		if err := fasthttpadaptor.ConvertRequest(ctx, &r, true); err != nil {
			b.Fatal(err)
		}
	})
}

// measure runs f b.N times and reports, next to ns/op, the process's CPU
// time per op (cpu-ns/op, garbage collection included). On a machine
// shared with other work, wall time swings with the load while CPU time
// stays comparable between benchmarks.
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
