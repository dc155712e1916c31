package middleware

import (
	"crypto/tls"
	"net"
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
	tls   bool                           // the request came over TLS (HSTS applies)
	want  string                         // a response header the case must produce, checked once
}

// securityAll is every security header, HSTS included.
var securityAll = []configs.Middleware{{Security: &configs.Security{HSTS: true, FrameOptions: "DENY",
	ContentTypeOptions: true, XSSProtection: true}}}

var benchCases = []benchCase{
	{name: "RateLimit/allowed", mw: []configs.Middleware{{RateLimit: &configs.RateLimit{RequestsPerSecond: 1e12, Burst: 1}}}},
	{name: "RateLimit/refused", mw: []configs.Middleware{{RateLimit: &configs.RateLimit{RequestsPerSecond: 1e-9, Burst: 1}}},
		want: "Retry-After"},
	{name: "Security/tls", mw: securityAll, tls: true, want: "Strict-Transport-Security"},
	{name: "Security/plain", mw: securityAll, want: "X-Frame-Options"},
	{name: "CORS/simple", mw: []configs.Middleware{{CORS: &configs.CORS{AllowedOrigins: []string{"https://a.test", "https://b.test"},
		ExposedHeaders: []string{"X-Id"}}}}, setup: func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.Set("Origin", "https://b.test")
	}, want: "Access-Control-Allow-Origin"},
	{name: "CORS/refused-origin", mw: []configs.Middleware{{CORS: &configs.CORS{AllowedOrigins: []string{"https://a.test"}}}},
		setup: func(ctx *fasthttp.RequestCtx) {
			ctx.Request.Header.Set("Origin", "https://evil.test")
			ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
		}},
	{name: "CORS/preflight", mw: []configs.Middleware{{CORS: &configs.CORS{AllowedOrigins: []string{"https://a.test"},
		AllowedHeaders: []string{"X-Token"}, MaxAge: 600}}}, setup: func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.SetMethod("OPTIONS")
		ctx.Request.Header.Set("Origin", "https://a.test")
		ctx.Request.Header.Set("Access-Control-Request-Method", "PUT")
	}, want: "Access-Control-Allow-Methods"},
	{name: "Compression/skipped-small", mw: []configs.Middleware{{Compression: true}}, setup: func(ctx *fasthttp.RequestCtx) {
		ctx.Request.Header.Set("Accept-Encoding", "gzip, br")
		ctx.Response.SetBodyString("hello")
	}},
	{name: "Compression/gzip-4KB", mw: []configs.Middleware{{Compression: true}}, setup: compressSetup("gzip"), codec: true, want: "Content-Encoding"},
	{name: "Compression/br-4KB", mw: []configs.Middleware{{Compression: true}}, setup: compressSetup("br"), codec: true, want: "Content-Encoding"},
	{name: "Compression/zstd-4KB", mw: []configs.Middleware{{Compression: true}}, setup: compressSetup("zstd"), codec: true, want: "Content-Encoding"},
	{name: "Chain/all-four-gzip-4KB", mw: []configs.Middleware{
		{RateLimit: &configs.RateLimit{RequestsPerSecond: 1e12, Burst: 1}},
		{Security: &configs.Security{HSTS: true, ContentTypeOptions: true}},
		{CORS: &configs.CORS{AllowedOrigins: []string{"https://a.test"}}},
		{Compression: true},
	}, setup: func(ctx *fasthttp.RequestCtx) {
		compressSetup("gzip")(ctx)
		ctx.Request.Header.Set("Origin", "https://a.test")
	}, codec: true, tls: true, want: "Strict-Transport-Security"},
}

// newBenchCtx is the RequestCtx a case runs on, over TLS when bc.tls, and
// checks that a run sets bc.want, so a case cannot silently skip the
// branch it is named for. It runs twice first: the first request of
// RateLimit/refused takes the bucket's only token.
func newBenchCtx(tb testing.TB, c *Chain, bc benchCase, client netip.Addr) *fasthttp.RequestCtx {
	tb.Helper()
	ctx := &fasthttp.RequestCtx{}
	if bc.tls {
		// IsTLS asks only whether the connection is a *tls.Conn; no
		// handshake or I/O happens on it.
		a, b := net.Pipe()
		tb.Cleanup(func() { a.Close(); b.Close() })
		ctx.Init2(tls.Server(a, &tls.Config{}), nil, false)
	}
	runOnce(c, ctx, bc, client)
	runOnce(c, ctx, bc, client)
	if bc.want != "" && len(ctx.Response.Header.Peek(bc.want)) == 0 {
		tb.Fatalf("%s: the answer lacks %s", bc.name, bc.want)
	}
	return ctx
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
			ctx := newBenchCtx(b, c, bc, client)
			b.ReportAllocs()
			for b.Loop() {
				runOnce(c, ctx, bc, client)
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
