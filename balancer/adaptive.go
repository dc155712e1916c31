package balancer

import "sync/atomic"

// adaptive switches policy by observed load (the rule is in the package
// doc): weighted-round-robin while fewer requests are in flight than
// backends are in rotation, otherwise least-response-time when response
// times are spread, else weighted-least-connections.
type adaptive struct {
	light  weightedRoundRobin
	conns  leastConn
	rtt    leastConn
	picks  atomic.Uint64
	spread atomic.Bool
}

var _ policy = (*adaptive)(nil)

// spreadFactor is the ratio of slowest to fastest measured response time
// above which adaptive balances by response time.
const spreadFactor = 2

// adaptiveEvery is how many picks pass between measurements of the spread.
const adaptiveEvery = 64

func newAdaptive() *adaptive {
	return &adaptive{conns: leastConn{score: byConnsPerWeight}, rtt: leastConn{score: byResponseTime}}
}

func (*adaptive) prepare(*set) {}

func (p *adaptive) pick(s *set, r *Request) *Backend {
	if p.picks.Add(1)%adaptiveEvery == 0 {
		p.spread.Store(rttSpread(s))
	}
	switch {
	case s.load(int64(len(s.up))) < int64(len(s.up)):
		return p.light.pick(s, r)
	case p.spread.Load():
		return p.rtt.pick(s, r)
	}
	return p.conns.pick(s, r)
}

// rttSpread reports whether the slowest measured backend's moving average
// is more than spreadFactor times the fastest's.
func rttSpread(s *set) bool {
	var lo, hi int64
	for _, b := range s.up {
		v := b.rtt.Load()
		if v == 0 {
			continue
		}
		if lo == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	return lo > 0 && hi > spreadFactor*lo
}
