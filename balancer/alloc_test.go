//go:build !race

package balancer

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestPickAndDoneAllocateNothing(t *testing.T) {
	for _, bc := range benchPolicies {
		t.Run(bc.name, func(t *testing.T) {
			p, r := benchPool(t, bc)
			if n := testing.AllocsPerRun(1000, func() {
				b, err := p.Pick(r)
				if err != nil {
					t.Fatal(err)
				}
				p.Done(b, Success, time.Millisecond)
			}); n != 0 {
				t.Errorf("%.1f allocs per Pick+Done", n)
			}
		})
	}
}

func TestBusyAndStampAllocateNothing(t *testing.T) {
	bs := testBackends(1, 1)
	bs[0].MaxConnections, bs[1].MaxConnections = 1, 1
	p := mustPool(t, bs, Options{Policy: "sticky-session"})
	a, _ := p.Pick(nil)
	b, _ := p.Pick(nil)
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := p.Pick(nil); err != ErrBusy {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%.1f allocs per ErrBusy", n)
	}
	ctx := &fasthttp.RequestCtx{}
	if n := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		p.Stamp(ctx, a) // no cookie yet: sets one
	}); n != 0 {
		t.Errorf("%.1f allocs per Stamp setting a cookie", n)
	}
	p.Done(a, Success, 0)
	p.Done(b, Success, 0)
}
