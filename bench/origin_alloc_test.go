//go:build !race

package bench

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestOriginAllocatesNothing backs the harness's reading of allocs/op: the
// origin adds nothing per request, so what a benchmark reports is the
// proxy's (and, for the baseline, net/http's).
func TestOriginAllocatesNothing(t *testing.T) {
	for _, c := range everyCase {
		t.Run(c.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(c.method)
			ctx.Request.SetRequestURI("/api/v1" + c.path)
			ctx.Request.SetBody(c.body)
			serve := func() {
				ctx.Response.Reset()
				Origin(&ctx)
			}
			serve()
			if got := ctx.Response.Body(); string(got) != string(c.want) {
				t.Fatalf("body of %d bytes, want %d", len(got), len(c.want))
			}
			if n := testing.AllocsPerRun(100, serve); n != 0 {
				t.Errorf("%.1f allocations per request, want 0", n)
			}
		})
	}
}
