package balancer

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// stickyCookie is what sticky-session finds in a benchmark's request.
type stickyCookie uint8

const (
	cookieValid  stickyCookie = iota // a backend's own (a returning client)
	cookieNone                       // none (a new client): the base policy picks
	cookieForged                     // a backend's with its last character changed: the base policy picks
)

// benchCase is one policy measured, with its hash key if any.
type benchCase struct {
	name, policy, key string
	cookie            stickyCookie
}

// benchPolicies are the cases measured by BenchmarkPick and checked for
// allocations, named as their sub-benchmarks.
var benchPolicies = []benchCase{
	{name: "round-robin", policy: "round-robin"},
	{name: "weighted-round-robin", policy: "weighted-round-robin"},
	{name: "least-connections", policy: "least-connections"},
	{name: "weighted-least-connections", policy: "weighted-least-connections"},
	{name: "bounded-least-connections", policy: "bounded-least-connections"},
	{name: "least-response-time", policy: "least-response-time"},
	{name: "power-of-two", policy: "power-of-two"},
	{name: "ip-hash", policy: "ip-hash"},
	{name: "consistent-hash", policy: "consistent-hash", key: "header:X-User"},
	{name: "consistent-hash-ip", policy: "consistent-hash", key: "ip"},
	{name: "sticky-session", policy: "sticky-session"},
	{name: "sticky-session-no-cookie", policy: "sticky-session", cookie: cookieNone},
	{name: "sticky-session-forged-cookie", policy: "sticky-session", cookie: cookieForged},
	{name: "adaptive", policy: "adaptive"},
}

// benchPool returns a pool of 10 backends of weights 1..10 for bc and a
// request for it.
func benchPool(tb testing.TB, bc benchCase) (*Pool, *Request) {
	p := mustPool(tb, testBackends(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), Options{Policy: bc.policy, HashKey: bc.key})
	return p, benchRequest(p, bc)
}

// benchRequest returns a request carrying a client address, an X-User
// header and, as bc says, a sticky-session cookie.
func benchRequest(p *Pool, bc benchCase) *Request {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("/catalog/item/42")
	ctx.Request.Header.Set("X-User", "user-1234")
	if token := p.Backends()[4].token; token != nil {
		switch bc.cookie {
		case cookieValid:
			ctx.Request.Header.SetCookie(DefaultStickyCookie, string(token))
		case cookieForged:
			forged := []byte(string(token))
			if forged[len(forged)-1] == 'A' {
				forged[len(forged)-1] = 'B'
			} else {
				forged[len(forged)-1] = 'A'
			}
			ctx.Request.Header.SetCookie(DefaultStickyCookie, string(forged))
		}
	}
	return &Request{Ctx: ctx, Client: netip.MustParseAddr("203.0.113.9")}
}

// BenchmarkPick measures one Pick and its Done with 10 backends, for each
// case of benchPolicies: BenchmarkPick/<case>/serial on one goroutine, and
// BenchmarkPick/<case>/parallel with b.RunParallel, GOMAXPROCS goroutines
// sharing one pool (each with its own request, as the proxy has).
func BenchmarkPick(b *testing.B) {
	for _, bc := range benchPolicies {
		b.Run(bc.name, func(b *testing.B) {
			b.Run("serial", func(b *testing.B) {
				p, r := benchPool(b, bc)
				b.ReportAllocs()
				for b.Loop() {
					be, err := p.Pick(r)
					if err != nil {
						b.Fatal(err)
					}
					p.Done(be, Success, time.Millisecond)
				}
			})
			b.Run("parallel", func(b *testing.B) {
				p, _ := benchPool(b, bc)
				// One request per goroutine of RunParallel (GOMAXPROCS of
				// them), built before the timer so B/op counts only picks.
				reqs := make(chan *Request, runtime.GOMAXPROCS(0))
				for range cap(reqs) {
					reqs <- benchRequest(p, bc)
				}
				b.ReportAllocs()
				b.ResetTimer() // building the pool (a hash ring) is not the pick
				b.RunParallel(func(pb *testing.PB) {
					r := <-reqs
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
