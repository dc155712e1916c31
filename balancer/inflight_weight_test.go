package balancer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestHeldRequestsSettleInProportionToWeight holds requests open (Pick
// without Done), which is what tells the least-loaded policies apart: with
// weights 1:3, least-connections evens out the requests in flight (20:20
// of 40) while weighted-least-connections and the policies that fall back
// to it under load keep them in proportion to weight (10:30). The counts are checked once
// 40 are held, and again after many rounds of one random request ending
// and a new one taking its place.
func TestHeldRequestsSettleInProportionToWeight(t *testing.T) {
	const held = 40
	tests := []struct {
		policy     string
		light, hvy int64 // in flight on the weight-1 and weight-3 backends
	}{
		{"least-connections", 20, 20},
		{"weighted-least-connections", 10, 30},
		{"power-of-two", 10, 30},
		{"adaptive", 10, 30},
	}
	for _, tc := range tests {
		t.Run(tc.policy, func(t *testing.T) {
			p := mustPool(t, testBackends(1, 3), Options{Policy: tc.policy})
			light, heavy := p.Backends()[0], p.Backends()[1]
			check := func(when string) {
				t.Helper()
				// One request of slack: a tie may land on either side.
				if l, h := light.InFlight(), heavy.InFlight(); abs(l-tc.light) > 1 || abs(h-tc.hvy) > 1 {
					t.Errorf("%s: in flight %d:%d, want %d:%d (±1)", when, l, h, tc.light, tc.hvy)
				}
			}
			var open []*Backend
			for range held {
				b, err := p.Pick(nil)
				if err != nil {
					t.Fatal(err)
				}
				open = append(open, b)
			}
			check("after 40 picks held")

			rng := rand.New(rand.NewPCG(3, 4))
			for range 2000 {
				i := rng.IntN(len(open))
				p.Done(open[i], Success, time.Millisecond)
				b, err := p.Pick(nil)
				if err != nil {
					t.Fatal(err)
				}
				open[i] = b
			}
			check("after 2000 requests ended and were replaced")
			for _, b := range open {
				p.Done(b, Success, time.Millisecond)
			}
			if l, h := light.InFlight(), heavy.InFlight(); l != 0 || h != 0 {
				t.Errorf("in flight %d:%d after every Done", l, h)
			}
		})
	}
}

// TestBoundedLeastConnectionsKeepsHeldRequestsUnderTheBound: with requests
// held open, bounded-least-connections follows the weighted sequence only
// while its candidate stays below (1+hash_bound) times its weighted share
// of the requests in flight, so no backend ever carries more than that
// (rounded up, counting the request being placed), however the requests
// happen to end.
func TestBoundedLeastConnectionsKeepsHeldRequestsUnderTheBound(t *testing.T) {
	const held = 40
	for _, bound := range []float64{0, 0.25, 1} {
		t.Run(fmt.Sprint("hash_bound=", bound), func(t *testing.T) {
			p := mustPool(t, testBackends(1, 3), Options{Policy: "bounded-least-connections", HashBound: &bound})
			limit := func(b *Backend) int64 { // the most b may carry with 40 in flight
				return int64(math.Ceil((1 + bound) * held * float64(b.Weight) / 4))
			}
			var open []*Backend
			rng := rand.New(rand.NewPCG(5, 6))
			for i := range held + 4000 {
				if len(open) == held {
					j := rng.IntN(held)
					p.Done(open[j], Success, time.Millisecond)
					open[j] = open[held-1]
					open = open[:held-1]
				}
				b, err := p.Pick(nil)
				if err != nil {
					t.Fatal(err)
				}
				open = append(open, b)
				if len(open) < held {
					continue
				}
				for _, b := range p.Backends() {
					if n := b.InFlight(); n > limit(b) {
						t.Fatalf("after %d picks: backend of weight %d carries %d of %d, over its bound of %d",
							i+1, b.Weight, n, held, limit(b))
					}
				}
			}
			for _, b := range open {
				p.Done(b, Success, time.Millisecond)
			}
		})
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
