package balancer

import (
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

func TestOptionsForTakesTheMostSpecificSetting(t *testing.T) {
	global := &configs.HealthCheck{Path: "/global"}
	service := &configs.HealthCheck{Path: "/service"}
	half, tenth := 0.5, 0.1
	breaker := func(n int, d time.Duration) []configs.Middleware {
		return []configs.Middleware{{RateLimit: &configs.RateLimit{}}, {CircuitBreaker: &configs.CircuitBreaker{FailureThreshold: n, ResetTimeout: configs.Duration(d)}}}
	}
	cases := []struct {
		desc string
		cfg  configs.Config
		svc  *configs.Service
		loc  *configs.Location
		want Options
	}{{
		desc: "nothing set: round-robin, default passive threshold",
		want: Options{Policy: "round-robin", Passive: configs.PassiveHealth{FailureThreshold: DefaultFailureThreshold}},
	}, {
		desc: "global algorithm and options",
		cfg:  configs.Config{Algorithm: "Consistent_Hash", HashKey: "path", HashBound: &half, StickyCookie: "g", HealthCheck: global},
		svc:  &configs.Service{},
		loc:  &configs.Location{},
		want: Options{Policy: "consistent-hash", HashKey: "path", HashBound: &half, StickyCookie: "g", HealthCheck: global,
			Passive: configs.PassiveHealth{FailureThreshold: DefaultFailureThreshold}},
	}, {
		desc: "location over global, service check over global",
		cfg:  configs.Config{Algorithm: "round-robin", HashKey: "path", HashBound: &half, StickyCookie: "g", HealthCheck: global},
		svc:  &configs.Service{HealthCheck: service},
		loc:  &configs.Location{LBPolicy: "sticky_session", HashKey: "header:X", HashBound: &tenth, StickyCookie: "l"},
		want: Options{Policy: "sticky-session", HashKey: "header:X", HashBound: &tenth, StickyCookie: "l", HealthCheck: service,
			Passive: configs.PassiveHealth{FailureThreshold: DefaultFailureThreshold}},
	}, {
		desc: "global circuit breaker over passive_health, queue timeout",
		cfg: configs.Config{Middleware: breaker(3, time.Second),
			PassiveHealth:  configs.PassiveHealth{FailureThreshold: 7, Backoff: configs.Duration(time.Minute), MaxBackoff: configs.Duration(time.Hour), Count5xx: true},
			ConnectionPool: configs.Pool{QueueTimeout: configs.Duration(250 * time.Millisecond)}},
		want: Options{Policy: "round-robin", QueueTimeout: 250 * time.Millisecond,
			Passive: configs.PassiveHealth{FailureThreshold: 3, Backoff: configs.Duration(time.Second), MaxBackoff: configs.Duration(time.Hour), Count5xx: true}},
	}, {
		desc: "service circuit breaker over the global one",
		cfg:  configs.Config{Middleware: breaker(3, time.Second)},
		svc:  &configs.Service{Middleware: breaker(9, 0)},
		want: Options{Policy: "round-robin", Passive: configs.PassiveHealth{FailureThreshold: 9}},
	}}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got := OptionsFor(&tc.cfg, tc.svc, tc.loc)
			if got.Policy != tc.want.Policy || got.HashKey != tc.want.HashKey || got.StickyCookie != tc.want.StickyCookie ||
				got.HealthCheck != tc.want.HealthCheck || got.Passive != tc.want.Passive || got.QueueTimeout != tc.want.QueueTimeout ||
				(got.HashBound == nil) != (tc.want.HashBound == nil) || (got.HashBound != nil && *got.HashBound != *tc.want.HashBound) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if _, err := New(testBackends(1), withQuiet(got)); err != nil {
				t.Errorf("New rejects what OptionsFor returned: %v", err)
			}
		})
	}
}

func withQuiet(o Options) Options {
	o.Logger = quiet
	return o
}

func TestBoundedLeastConnectionsKeepsEveryBackendWithinItsBound(t *testing.T) {
	bound := 0.25
	weights := []int{1, 2, 3, 4}
	p := mustPool(t, testBackends(weights...), Options{Policy: "bounded-least-connections", HashBound: &bound})
	var held []*Backend
	for n := 1; n <= 100; n++ {
		b, err := p.Pick(nil)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, b)
		for _, c := range p.Backends() {
			limit := max(1, (1+bound)*float64(n)*float64(c.Weight)/10)
			if float64(c.InFlight()) > limit+1 {
				t.Fatalf("after %d picks %s (weight %d) carries %d, bound %.1f", n, c.Addr, c.Weight, c.InFlight(), limit)
			}
		}
		// Release every third request to mix long and short ones.
		if n%3 == 0 {
			p.Done(held[0], Success, time.Millisecond)
			held = held[1:]
		}
	}
	for _, b := range held {
		p.Done(b, Success, time.Millisecond)
	}
}

func TestAdaptiveSwitchesPolicyWithLoad(t *testing.T) {
	p := mustPool(t, testBackends(1, 1, 1), Options{Policy: "adaptive"})
	bs := p.Backends()
	// Light load: plain weighted round-robin, whatever the response times.
	for i := range 6 {
		b, _ := p.Pick(nil)
		if b.Index != i%3 {
			t.Fatalf("light load: pick %d went to %d, want round-robin order", i, b.Index)
		}
		p.Done(b, Success, time.Duration(1+10*b.Index)*time.Millisecond)
	}
	// Loaded (three held, one per backend) with backend 2 ten times slower
	// than backend 0 and 1: by response time, backend 2 is avoided.
	var held []*Backend
	for range 3 {
		b, _ := p.Pick(nil)
		held = append(held, b)
	}
	for range adaptiveEvery { // let the spread be measured
		b, _ := p.Pick(nil)
		p.Done(b, Success, time.Duration(1+10*b.Index)*time.Millisecond)
	}
	for range 20 {
		b, _ := p.Pick(nil)
		if b == bs[2] {
			t.Fatal("loaded with spread response times: picked the slowest backend")
		}
		p.Done(b, Success, time.Duration(1+10*b.Index)*time.Millisecond)
	}
	// Loaded with even response times: least connections. Hold two more
	// on backend 0; the next picks avoid it.
	for range 200 {
		for _, b := range bs {
			observeRTT(b, 5*time.Millisecond)
		}
	}
	for range adaptiveEvery {
		b, _ := p.Pick(nil)
		p.Done(b, Success, 5*time.Millisecond)
	}
	for range 2 {
		hold(t, p, bs[0])
		held = append(held, bs[0])
	}
	for range 10 {
		b, _ := p.Pick(nil)
		if b == bs[0] {
			t.Fatal("loaded with even response times: picked the backend with most in flight")
		}
		p.Done(b, Success, 5*time.Millisecond)
	}
	for _, b := range held {
		p.Done(b, Success, 5*time.Millisecond)
	}
}
