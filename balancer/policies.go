package balancer

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
)

// policy is one load-balancing algorithm. prepare runs on the slow path
// each time the set of backends in rotation changes and may fill the set's
// tables; pick runs on the hot path, must not lock or allocate, and returns
// a backend already admitted by s.take, or nil when none could be.
type policy interface {
	prepare(s *set)
	pick(s *set, r *Request) *Backend
}

var (
	_ policy = (*roundRobin)(nil)
	_ policy = (*weightedRoundRobin)(nil)
	_ policy = (*leastConn)(nil)
	_ policy = (*boundedLeastConn)(nil)
	_ policy = (*powerOfTwo)(nil)
)

// roundRobin takes each backend in turn, ignoring weights.
type roundRobin struct{ next atomic.Uint32 }

func (*roundRobin) prepare(*set) {}

func (p *roundRobin) pick(s *set, r *Request) *Backend {
	n := len(s.up)
	if n == 0 {
		return nil
	}
	return s.scan(int(step(&p.next, n)), r)
}

// weightedRoundRobin walks the set's smooth sequence with one atomic
// counter; a refused backend falls back to the next one in rotation.
type weightedRoundRobin struct{ next atomic.Uint32 }

func (*weightedRoundRobin) prepare(*set) {}

func (p *weightedRoundRobin) pick(s *set, r *Request) *Backend {
	if len(s.seq) == 0 {
		return nil
	}
	return s.scan(int(s.seq[step(&p.next, len(s.seq))]), r)
}

// step advances a rotation counter and returns its previous value modulo
// n. The division is done in 32 bits, which is markedly cheaper; the
// counter's wrap at 2³² (after billions of picks) only skips ahead once.
func step(next *atomic.Uint32, n int) uint32 {
	return (next.Add(1) - 1) % uint32(n)
}

// start returns where a least-loaded scan begins: the next step of the
// smooth sequence, so that ties (most often, all idle) are shared by weight.
func (s *set) start(next *atomic.Uint32) int {
	return int(s.seq[step(next, len(s.seq))])
}

// loadScore selects what leastConn minimizes.
type loadScore uint8

const (
	byConns          loadScore = iota // requests in flight
	byConnsPerWeight                  // requests in flight / weight
	byResponseTime                    // moving average × (in flight + 1)
)

// leastConn takes the backend with the lowest score, scanning from a
// weighted start so ties are shared by weight. It serves
// least-connections, weighted-least-connections and least-response-time.
type leastConn struct {
	score loadScore
	next  atomic.Uint32
}

func (*leastConn) prepare(*set) {}

func (p *leastConn) pick(s *set, r *Request) *Backend {
	if len(s.up) == 0 {
		return nil
	}
	start := s.start(&p.next)
	// A concurrent Pick may fill the best backend between the scan and
	// take; scan again a few times before taking whatever admits.
	for range 3 {
		b := p.best(s, start, r)
		if b == nil {
			break
		}
		if s.take(b, r) {
			return b
		}
	}
	return s.scan(start, r)
}

// best returns the usable backend of lowest score, nil when none is usable,
// scanning up from start and wrapping around.
func (p *leastConn) best(s *set, start int, r *Request) *Backend {
	// Locals, because the compiler does not hoist loads across the atomic
	// loads of the scans.
	excl := r.Exclude
	if len(s.up) == 1 {
		excl = nil
	}
	// Most sets refuse no backend: no Exclude, no cap, no trial. Their
	// scans then test one predictable flag per backend instead of three
	// conditions.
	checked := excl != nil || s.capped || s.trials
	if p.score == byResponseTime {
		return fastestLoaded(s.up, start, excl, s.trials, checked)
	}
	return leastLoaded(s.up, start, excl, s.trials, checked, p.score == byConnsPerWeight)
}

// usable reports whether b, with c requests in flight, may take one more.
func usable(b *Backend, c int64, excl *Backend, trials bool) bool {
	return b != excl && (b.MaxConns == 0 || c < b.MaxConns) && (!trials || b.trial.Load() != trialTaken)
}

// leastLoaded returns the usable backend with the fewest requests in
// flight, per unit of weight when weighted (compared as c₁·w₂ < c₂·w₁).
// The first of equals wins, so the first idle one ends the scan: nothing
// can beat it, weighted or not. Only when checked may a backend be
// unusable.
func leastLoaded(up []*Backend, start int, excl *Backend, trials, checked, weighted bool) *Backend {
	var best *Backend
	var bc, bw int64
	for _, part := range [2][]*Backend{up[start:], up[:start]} {
		for _, b := range part {
			c := b.inflight.Load()
			if checked {
				if !usable(b, c, excl, trials) {
					continue
				}
			}
			if c == 0 {
				return b
			}
			w := int64(1)
			if weighted {
				w = int64(b.Weight)
			}
			if best == nil || c*bw < bc*w {
				best, bc, bw = b, c, w
			}
		}
	}
	return best
}

// fastestLoaded returns the usable backend of lowest response time ×
// (in flight + 1). A backend not measured yet counts as the fastest
// measured one, so it is tried soon while its requests in flight still
// count; it wins ties, so every backend gets measured. Only when checked
// may a backend be unusable.
//
// An idle backend not measured yet beats everything (its score is the
// fastest one's, the least possible), so it ends the scan. The sentinels
// spare the loop the tests for a first candidate; a score cannot reach
// them (it would take a response time of days times millions in flight).
func fastestLoaded(up []*Backend, start int, excl *Backend, trials, checked bool) *Backend {
	const none = math.MaxInt64
	var best, fresh *Backend
	bs, freshC, fastest := int64(none), int64(none), int64(none)
	for i, n := 0, len(up); i < n; i++ {
		j := start + i
		if j >= n {
			j -= n
		}
		b := up[j]
		c := b.inflight.Load()
		if checked {
			// Nested, not &&: the compiler then branches instead of
			// spilling the condition to the stack on every backend.
			if !usable(b, c, excl, trials) {
				continue
			}
		}
		rtt := b.rtt.Load()
		if rtt == 0 {
			if c == 0 {
				return b
			}
			if c < freshC {
				fresh, freshC = b, c
			}
			continue
		}
		fastest = min(fastest, rtt)
		if sc := rtt * (c + 1); sc < bs {
			best, bs = b, sc
		}
	}
	if fresh != nil && (best == nil || fastest*(freshC+1) <= bs) {
		return fresh
	}
	return best
}

// boundedLeastConn follows the smooth weighted sequence while its
// candidate carries at most (1+bound) times its weighted share of the
// requests in flight, and otherwise falls back to weighted least
// connections: round-robin's evenness under light load, with no backend
// running far ahead of its share under skewed request durations.
type boundedLeastConn struct {
	bound float64
	next  atomic.Uint32
	least leastConn
}

func (*boundedLeastConn) prepare(*set) {}

func (p *boundedLeastConn) pick(s *set, r *Request) *Backend {
	if len(s.seq) == 0 {
		return nil
	}
	b := s.up[s.start(&p.next)]
	total := int64(-1)
	if !s.overloaded(b, p.bound, &total) && s.take(b, r) {
		return b
	}
	return p.least.pick(s, r)
}

// overloaded reports whether b already carries at least (1+bound) times
// its weighted share of the requests in flight in the set, counting the
// one being placed. The cap is never below one request, so an idle backend
// is never overloaded. *total caches the set's load for one pick: -1 until
// a busy backend first needs it.
func (s *set) overloaded(b *Backend, bound float64, total *int64) bool {
	c := b.inflight.Load()
	if bound < 0 || c == 0 {
		return false
	}
	if *total < 0 {
		*total = s.load(math.MaxInt64)
	}
	// c ≥ (1+bound)·fair with fair = (total+1)·w/W, multiplied out: the
	// integer products are exact, so only one rounding remains, and no
	// division.
	return float64(c*s.weight) >= (1+bound)*float64((*total+1)*int64(b.Weight))
}

// load returns the number of requests in flight on the backends of the
// set, or any number of at least limit once the count reaches it. Summing
// the backends' own counters on demand, rather than keeping a pool-wide
// total, spares every request two atomic writes to one shared cache line
// (about 10ns of a pick on one core, more under contention). The bounded
// policies sum only when a busy candidate must be judged; adaptive sums on
// every pick, stopping at limit, which costs at most one load per backend
// like the least-loaded scans it chooses between. Concurrent picks make
// it approximate, as any count read without a lock would be.
func (s *set) load(limit int64) int64 {
	var n int64
	for _, b := range s.up {
		if n += b.inflight.Load(); n >= limit {
			break
		}
	}
	return n
}

// powerOfTwo draws two backends in proportion to weight (two steps of the
// smooth sequence at random) and takes the one with fewer requests in
// flight per unit of weight. math/rand/v2's global source is per-thread in
// the runtime: no lock, no allocation.
type powerOfTwo struct{}

func (*powerOfTwo) prepare(*set) {}

func (*powerOfTwo) pick(s *set, r *Request) *Backend {
	n := uint64(len(s.seq))
	if n == 0 {
		return nil
	}
	x := rand.Uint64()
	i, j := s.seq[(x&0xffffffff)%n], s.seq[(x>>32)%n]
	if i == j && len(s.up) > 1 {
		// Two draws of one backend compare nothing; pair it with the next.
		if j++; int(j) == len(s.up) {
			j = 0
		}
	}
	a, b := s.up[i], s.up[j]
	if b.inflight.Load()*int64(a.Weight) < a.inflight.Load()*int64(b.Weight) {
		a, b = b, a
	}
	if s.take(a, r) {
		return a
	}
	if b != a && s.take(b, r) {
		return b
	}
	return s.scan(int(s.seq[x%n]), r)
}
