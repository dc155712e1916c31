//go:build !race

package middleware

import (
	"net/netip"
	"testing"
)

// TestMiddlewareAllocatesNothingPerRequest guards the hot path: once warm,
// every middleware runs without allocating. Compressing a body is the
// exception the work imposes: fasthttp's AppendGzipBytesLevel and its kin
// allocate two small objects per call (a writer wrapper and the argument
// they pass to the stackless compressor), which the chain cannot avoid
// while using fasthttp's codecs.
func TestMiddlewareAllocatesNothingPerRequest(t *testing.T) {
	client := netip.MustParseAddr("192.0.2.1")
	for _, bc := range benchCases {
		t.Run(bc.name, func(t *testing.T) {
			c, err := New(bc.mw, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := newBenchCtx(t, c, bc, client)
			for range 10 {
				runOnce(c, ctx, bc, client) // warm the pools
			}
			want := 0.0
			if bc.codec {
				want = 2
			}
			if n := testing.AllocsPerRun(200, func() { runOnce(c, ctx, bc, client) }); n > want {
				t.Errorf("%v allocations per request, want at most %v", n, want)
			}
		})
	}
}
