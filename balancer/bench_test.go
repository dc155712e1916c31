package balancer

import (
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// benchPolicies are the policies measured, with their hash key if any.
var benchPolicies = []struct{ policy, key string }{
	{"round-robin", ""},
	{"weighted-round-robin", ""},
	{"least-connections", ""},
	{"weighted-least-connections", ""},
	{"bounded-least-connections", ""},
	{"least-response-time", ""},
	{"power-of-two", ""},
	{"ip-hash", ""},
	{"consistent-hash", "header:X-User"},
	{"sticky-session", ""},
	{"adaptive", ""},
}

// benchPool returns a pool of 10 backends of weights 1..10 and a request
// carrying a client address, an X-User header and, for sticky-session,
// the cookie of a backend (the common case of a returning client).
func benchPool(tb testing.TB, policy, key string) (*Pool, *Request) {
	p := mustPool(tb, testBackends(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), Options{Policy: policy, HashKey: key})
	return p, benchRequest(p)
}

func benchRequest(p *Pool) *Request {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("/catalog/item/42")
	ctx.Request.Header.Set("X-User", "user-1234")
	ctx.Request.Header.SetCookie(DefaultStickyCookie, string(p.Backends()[4].token))
	return &Request{Ctx: ctx, Client: netip.MustParseAddr("203.0.113.9")}
}

// BenchmarkPick measures one Pick and its Done, single-threaded.
func BenchmarkPick(b *testing.B) {
	for _, bp := range benchPolicies {
		b.Run(bp.policy, func(b *testing.B) {
			p, r := benchPool(b, bp.policy, bp.key)
			b.ReportAllocs()
			for b.Loop() {
				be, err := p.Pick(r)
				if err != nil {
					b.Fatal(err)
				}
				p.Done(be, Success, time.Millisecond)
			}
		})
	}
}

// BenchmarkPickParallel measures Pick and Done from GOMAXPROCS goroutines
// sharing one pool (each with its own request, as the proxy has).
func BenchmarkPickParallel(b *testing.B) {
	for _, bp := range benchPolicies {
		b.Run(bp.policy, func(b *testing.B) {
			p, _ := benchPool(b, bp.policy, bp.key)
			b.ReportAllocs()
			b.ResetTimer() // building the pool (a hash ring) is not the pick
			b.RunParallel(func(pb *testing.PB) {
				r := benchRequest(p)
				for pb.Next() {
					be, err := p.Pick(r)
					if err != nil {
						b.Error(err)
						return
					}
					p.Done(be, Success, time.Millisecond)
				}
			})
		})
	}
}

// BenchmarkPickAllFull measures the ErrBusy answer with every backend at
// its max_connections and no queue.
func BenchmarkPickAllFull(b *testing.B) {
	bs := testBackends(1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	for i := range bs {
		bs[i].MaxConnections = 1
	}
	p := mustPool(b, bs, Options{})
	for range bs {
		if _, err := p.Pick(nil); err != nil {
			b.Fatal(err)
		}
	}
	r := &Request{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Pick(r); err != ErrBusy {
			b.Fatal(err)
		}
	}
}
