package middleware

import (
	"net/netip"
	"testing"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// benchCase is one middleware on one kind of request, run on a RequestCtx
// without a network so the figures are the middleware's own.
type benchCase struct {
	name  string
	mw    []configs.Middleware
	setup func(ctx *fasthttp.RequestCtx) // request and backend answer
	codec bool                           // runs fasthttp's compressor
}

var benchCases = []benchCase{
	{"RateLimit/allowed", []configs.Middleware{{RateLimit: &configs.RateLimit{RequestsPerSecond: 1e12, Burst: 1}}}, nil, false},
	{"RateLimit/refused", []configs.Middleware{{RateLimit: &configs.RateLimit{RequestsPerSecond: 1e-9, Burst: 1}}}, nil, false},
	{"Security", []configs.Middleware{{Security: &configs.Security{HSTS: true, FrameOptions: "DENY",
		ContentTypeOptions: true, XSSProtection: true}}}, nil, false},
	{"CORS/simple", []configs.Middleware{{CORS: &configs.CORS{AllowedOrigins: []string{"https://a.test", "https://b.test"},
		ExposedHeaders: []string{"X-Id"}}}}, func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.Set("Origin", "https://b.test")
	}, false},
	{"CORS/refused-origin", []configs.Middleware{{CORS: &configs.CORS{AllowedOrigins: []string{"https://a.test"}}}},
		func(ctx *fasthttp.RequestCtx) {
			ctx.Request.Header.Set("Origin", "https://evil.test")
			ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
		}, false},
	{"CORS/preflight", []configs.Middleware{{CORS: &configs.CORS{AllowedOrigins: []string{"https://a.test"},
		AllowedHeaders: []string{"X-Token"}, MaxAge: 600}}}, func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.SetMethod("OPTIONS")
		ctx.Request.Header.Set("Origin", "https://a.test")
		ctx.Request.Header.Set("Access-Control-Request-Method", "PUT")
	}, false},
	{"Compression/skipped-small", []configs.Middleware{{Compression: true}}, func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.Set("Accept-Encoding", "gzip, br")
		ctx.Response.SetBodyString("hello")
	}, false},
	{"Compression/gzip-4KB", []configs.Middleware{{Compression: true}}, compressSetup("gzip"), true},
	{"Compression/br-4KB", []configs.Middleware{{Compression: true}}, compressSetup("br"), true},
	{"Compression/zstd-4KB", []configs.Middleware{{Compression: true}}, compressSetup("zstd"), true},
	{"Chain/all-four-gzip-4KB", []configs.Middleware{
		{RateLimit: &configs.RateLimit{RequestsPerSecond: 1e12, Burst: 1}},
		{Security: &configs.Security{HSTS: true, ContentTypeOptions: true}},
		{CORS: &configs.CORS{AllowedOrigins: []string{"https://a.test"}}},
		{Compression: true},
	}, func(ctx *fasthttp.RequestCtx) {
		compressSetup("gzip")(ctx)
		ctx.Request.Header.Set("Origin", "https://a.test")
	}, true},
}

func compressSetup(enc string) func(*fasthttp.RequestCtx) {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.Set("Accept-Encoding", enc)
		ctx.Response.Header.SetContentType("text/html")
		ctx.Response.SetBodyString(bigText)
	}
}

// runOnce is one request through the chain as the proxy runs it.
func runOnce(c *Chain, ctx *fasthttp.RequestCtx, bc benchCase, client netip.Addr) {
	ctx.Request.Reset()
	ctx.Response.Reset()
	if bc.setup != nil {
		bc.setup(ctx)
	}
	if !c.Request(ctx, client) {
		c.Response(ctx)
	}
}

func BenchmarkMiddleware(b *testing.B) {
	client := netip.MustParseAddr("192.0.2.1")
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			c, err := New(bc.mw, nil)
			if err != nil {
				b.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			b.ReportAllocs()
			for b.Loop() {
				runOnce(c, &ctx, bc, client)
			}
		})
	}
}

// BenchmarkRateLimitParallel measures contention on the sharded table with
// many clients.
func BenchmarkRateLimitParallel(b *testing.B) {
	rl, err := newRateLimit(&configs.RateLimit{RequestsPerSecond: 1e12, Burst: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := uint32(0)
		for pb.Next() {
			i++
			rl.take(clientKey(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})), 1+int64(i))
		}
	})
}
