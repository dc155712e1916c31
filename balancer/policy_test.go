package balancer

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

var quiet = slog.New(slog.DiscardHandler)

// testBackends returns len(weights) backends on distinct loopback ports
// (nothing listens; these tests only pick).
func testBackends(weights ...int) []configs.Backend {
	bs := make([]configs.Backend, len(weights))
	for i, w := range weights {
		bs[i] = configs.Backend{URL: fmt.Sprintf("http://127.0.0.1:%d", 20000+i), Weight: w}
	}
	return bs
}

func mustPool(t testing.TB, bs []configs.Backend, opts Options) *Pool {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	p, err := New(bs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// varied returns the i-th of a stream of requests differing in client
// address, X-User header, cookie and path, so hash policies see many keys.
func varied(rng *rand.Rand, ctx *fasthttp.RequestCtx) *Request {
	ctx.Request.Reset()
	k := rng.Uint32()
	ctx.Request.SetRequestURI(fmt.Sprintf("/item/%d", k))
	ctx.Request.Header.Set("X-User", fmt.Sprint(k))
	ctx.Request.Header.SetCookie("sid", fmt.Sprint(k))
	return &Request{Ctx: ctx, Client: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})}
}

func TestPickDistributionFollowsWeights(t *testing.T) {
	weights := []int{1, 2, 3, 4}
	cases := []struct {
		policy, key string
		base        string  // sticky-session's base policy
		equal       bool    // round-robin ignores weights
		tol         float64 // allowed |share - expected| relative to expected
	}{
		{policy: "round-robin", equal: true, tol: 0.01},
		{policy: "weighted-round-robin", tol: 0.01},
		{policy: "least-connections", tol: 0.01},
		{policy: "weighted-least-connections", tol: 0.01},
		{policy: "bounded-least-connections", tol: 0.01},
		{policy: "least-response-time", tol: 0.02},
		{policy: "power-of-two", tol: 0.1},
		{policy: "ip-hash", tol: 0.2},
		{policy: "consistent-hash", key: "ip", tol: 0.2},
		{policy: "consistent-hash", key: "header:X-User", tol: 0.2},
		{policy: "consistent-hash", key: "cookie:sid", tol: 0.2},
		{policy: "consistent-hash", key: "path", tol: 0.2},
		{policy: "sticky-session", equal: true, tol: 0.01}, // base round-robin by default
		{policy: "sticky-session", base: "weighted-round-robin", tol: 0.01},
		{policy: "sticky-session", base: "least_connections", tol: 0.01},
		{policy: "adaptive", tol: 0.01},
	}
	const n = 20000
	for _, tc := range cases {
		t.Run(tc.policy+"/"+tc.key+tc.base, func(t *testing.T) {
			p := mustPool(t, testBackends(weights...), Options{Policy: tc.policy, HashKey: tc.key, StickyBase: tc.base})
			rng := rand.New(rand.NewPCG(1, 2))
			var ctx fasthttp.RequestCtx
			counts := make([]int, len(weights))
			for range n {
				b, err := p.Pick(varied(rng, &ctx))
				if err != nil {
					t.Fatal(err)
				}
				counts[b.Index]++
				p.Done(b, Success, time.Millisecond)
			}
			for i, w := range weights {
				want := float64(w) / 10
				if tc.equal {
					want = 1 / float64(len(weights))
				}
				got := float64(counts[i]) / n
				if math.Abs(got-want) > tc.tol*want {
					t.Errorf("backend %d (weight %d): share %.3f, want %.3f ± %.0f%% (counts %v)", i, w, got, want, tc.tol*100, counts)
				}
			}
		})
	}
}

func TestPolicyNamesAcceptDashOrUnderscoreAndRejectUnknown(t *testing.T) {
	for _, name := range configs.Policies {
		for _, spelled := range []string{name, strings.ReplaceAll(name, "-", "_"), strings.ToUpper(name)} {
			if _, err := New(testBackends(1), Options{Policy: spelled, Logger: quiet}); err != nil {
				t.Errorf("policy %q: %v", spelled, err)
			}
		}
	}
	for _, bad := range []string{"random", "least-conn", "round robin"} {
		if _, err := New(testBackends(1), Options{Policy: bad, Logger: quiet}); err == nil {
			t.Errorf("policy %q accepted", bad)
		}
	}
	if _, err := New(testBackends(1), Options{Policy: "consistent-hash", HashKey: "header:", Logger: quiet}); err == nil {
		t.Error(`hash_key "header:" accepted`)
	}
	for _, bad := range []string{"sticky-session", "sticky_session", "random"} {
		if _, err := New(testBackends(1), Options{Policy: "sticky-session", StickyBase: bad, Logger: quiet}); err == nil {
			t.Errorf("sticky base %q accepted", bad)
		}
	}
}

func TestWeightedRoundRobinIsSmooth(t *testing.T) {
	p := mustPool(t, testBackends(5, 1, 1), Options{Policy: "weighted-round-robin"})
	var got strings.Builder
	for range 14 {
		b, err := p.Pick(nil)
		if err != nil {
			t.Fatal(err)
		}
		got.WriteByte("abc"[b.Index])
		p.Done(b, Success, 0)
	}
	if want := "aabacaaaabacaa"; got.String() != want {
		t.Errorf("sequence %s, want %s", got.String(), want)
	}
}

func TestLeastConnectionsAvoidsTheBusyBackend(t *testing.T) {
	for _, policy := range []string{"least-connections", "weighted-least-connections", "least-response-time", "power-of-two", "adaptive"} {
		t.Run(policy, func(t *testing.T) {
			p := mustPool(t, testBackends(1, 1), Options{Policy: policy})
			// Hold 10 requests on whichever backend comes first.
			busy, _ := p.Pick(nil)
			for range 9 {
				hold(t, p, busy)
			}
			for range 20 {
				b, err := p.Pick(nil)
				if err != nil {
					t.Fatal(err)
				}
				if b == busy {
					t.Fatalf("picked the backend with %d in flight", busy.InFlight())
				}
				p.Done(b, Success, time.Millisecond)
			}
		})
	}
}

func TestLeastResponseTimePrefersTheFasterBackend(t *testing.T) {
	p := mustPool(t, testBackends(1, 1), Options{Policy: "least-response-time"})
	slow, fast := p.Backends()[0], p.Backends()[1]
	counts := map[*Backend]int{}
	for range 1000 {
		b, err := p.Pick(nil)
		if err != nil {
			t.Fatal(err)
		}
		counts[b]++
		d := time.Millisecond
		if b == slow {
			d = 10 * time.Millisecond
		}
		p.Done(b, Success, d)
	}
	if counts[fast] < 900 {
		t.Errorf("fast backend got %d of 1000 picks, slow %d", counts[fast], counts[slow])
	}
}

func TestExcludeMovesARetryToAnotherBackend(t *testing.T) {
	for _, policy := range configs.Policies {
		t.Run(policy, func(t *testing.T) {
			p := mustPool(t, testBackends(1, 1, 1), Options{Policy: policy})
			for range 30 {
				first, err := p.Pick(nil)
				if err != nil {
					t.Fatal(err)
				}
				second, err := p.Pick(&Request{Exclude: first})
				if err != nil {
					t.Fatal(err)
				}
				if second == first {
					t.Fatalf("retry picked the excluded backend %s", first.Addr)
				}
				p.Done(first, ConnectFailed, 0)
				p.Done(second, Success, time.Millisecond)
			}
			// The only backend is used even when excluded.
			one := mustPool(t, testBackends(1), Options{Policy: policy})
			b, err := one.Pick(&Request{Exclude: one.Backends()[0]})
			if err != nil || b != one.Backends()[0] {
				t.Fatalf("single backend: %v, %v", b, err)
			}
			one.Done(b, Success, 0)
		})
	}
}

func TestConcurrentPickAndDoneReturnInFlightToZero(t *testing.T) {
	for _, policy := range configs.Policies {
		t.Run(policy, func(t *testing.T) {
			bs := testBackends(1, 2, 3, 1, 1)
			bs[1].MaxConnections = 2
			p := mustPool(t, bs, Options{Policy: policy, Passive: configs.PassiveHealth{FailureThreshold: 3, Backoff: configs.Duration(time.Millisecond)}})
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 7))
					var ctx fasthttp.RequestCtx
					for i := range 500 {
						b, err := p.Pick(varied(rng, &ctx))
						if err != nil {
							if !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNoBackend) {
								t.Error(err)
							}
							continue
						}
						if n := b.InFlight(); b.MaxConns > 0 && n > b.MaxConns {
							t.Errorf("%s: %d in flight over max %d", b.Addr, n, b.MaxConns)
						}
						o := Success
						if i%50 == 0 && b.Index == 3 {
							o = Failed
						}
						p.Done(b, o, time.Duration(rng.IntN(1000))*time.Microsecond)
					}
				})
			}
			wg.Wait()
			for _, b := range p.Backends() {
				if n := b.InFlight(); n != 0 {
					t.Errorf("%s: %d in flight after all Done", b.Addr, n)
				}
			}
		})
	}
}

func TestMaxConnectionsSkipsFullBackendsThenErrBusy(t *testing.T) {
	for _, policy := range configs.Policies {
		t.Run(policy, func(t *testing.T) {
			bs := testBackends(1, 3)
			bs[0].MaxConnections, bs[1].MaxConnections = 1, 2
			p := mustPool(t, bs, Options{Policy: policy})
			var held []*Backend
			for range 3 {
				b, err := p.Pick(nil)
				if err != nil {
					t.Fatalf("pick %d: %v", len(held), err)
				}
				held = append(held, b)
			}
			if a, b := p.Backends()[0].InFlight(), p.Backends()[1].InFlight(); a != 1 || b != 2 {
				t.Fatalf("in flight %d and %d, want 1 and 2", a, b)
			}
			start := time.Now()
			if _, err := p.Pick(nil); !errors.Is(err, ErrBusy) {
				t.Fatalf("all full: %v, want ErrBusy", err)
			}
			if d := time.Since(start); d > 200*time.Millisecond {
				t.Errorf("ErrBusy took %v without a queue timeout", d)
			}
			for _, b := range held {
				p.Done(b, Success, time.Millisecond)
			}
		})
	}
}

func TestQueueTimeoutWaitsForAFreeBackend(t *testing.T) {
	bs := testBackends(1)
	bs[0].MaxConnections = 1
	p := mustPool(t, bs, Options{QueueTimeout: 2 * time.Second})
	b, err := p.Pick(nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		p.Done(b, Success, time.Millisecond)
	}()
	start := time.Now()
	b2, err := p.Pick(nil)
	if err != nil {
		t.Fatalf("queued pick: %v", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > time.Second {
		t.Errorf("queued pick returned after %v, want about 50ms", d)
	}

	q := mustPool(t, bs, Options{QueueTimeout: 100 * time.Millisecond})
	held, _ := q.Pick(nil)
	start = time.Now()
	if _, err := q.Pick(nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("queue timeout: %v, want ErrBusy", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > time.Second {
		t.Errorf("ErrBusy after %v, want about 100ms", d)
	}
	q.Done(held, Success, 0)
	p.Done(b2, Success, 0)
}
