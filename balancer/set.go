package balancer

// set is an immutable snapshot of the backends in rotation and the tables
// the policy precomputed for them. The hot path reads it through
// Pool.set; the slow path replaces it whenever a backend leaves or joins
// the rotation, so no table is ever modified while a Pick reads it.
type set struct {
	pool *Pool
	up   []*Backend
	// weight is the sum of the weights of up.
	weight int64
	// seq is the smooth weighted round-robin order of up (indices into up),
	// built for the policies that break ties or draw by weight.
	seq []int32
	// ring is the hash ring of ip-hash and consistent-hash.
	ring *ring
	// trials is set when some backend of up was on trial when the set was
	// built; only then must picks look at the trial gate.
	trials bool
	// capped is set when some backend of up has a MaxConns.
	capped bool
}

// take counts one request in flight on b when b may serve r: not the
// backend r excludes (unless it is the only one), below its MaxConns, and,
// for a backend on trial after an ejection, only for the one trial request.
// It is the only place a request is admitted, so the limits hold for every
// policy.
func (s *set) take(b *Backend, r *Request) bool {
	if b == r.Exclude && len(s.up) > 1 {
		return false
	}
	if b.MaxConns > 0 {
		for {
			n := b.inflight.Load()
			if n >= b.MaxConns {
				return false
			}
			if b.inflight.CompareAndSwap(n, n+1) {
				break
			}
		}
	} else {
		b.inflight.Add(1)
	}
	if s.trials {
		if !s.admitTrial(b, r) {
			b.inflight.Add(-1)
			return false
		}
	}
	return true
}

// admitTrial is take's gate in a snapshot built while some backend was on
// trial: a backend on trial admits only the request that takes its gate
// (marked in r), and one that a failed trial ejected again, still listed
// in this snapshot, admits nobody.
func (s *set) admitTrial(b *Backend, r *Request) bool {
	if b.ejected.Load() {
		return false
	}
	if b.trial.Load() == trialNone {
		return true
	}
	if !b.trial.CompareAndSwap(trialOpen, trialTaken) {
		return false
	}
	if r != &noRequest {
		r.trial = true
	}
	return true
}

// full reports whether b is at its MaxConns.
func full(b *Backend) bool { return b.MaxConns > 0 && b.inflight.Load() >= b.MaxConns }

// scan takes the first backend of up that take admits, starting at index
// start: the fallback of every policy whose own choice was refused.
func (s *set) scan(start int, r *Request) *Backend {
	n := len(s.up)
	for i := 0; i < n; i++ {
		j := start + i
		if j >= n {
			j -= n
		}
		if b := s.up[j]; s.take(b, r) {
			return b
		}
	}
	return nil
}

// why explains a failed pick: ErrBusy when some backend r could use is
// only full, ErrNoBackend when none is usable at all.
func (s *set) why(r *Request) error {
	for _, b := range s.up {
		if b == r.Exclude && len(s.up) > 1 {
			continue
		}
		if s.trials && b.trial.Load() == trialTaken {
			continue
		}
		if full(b) {
			return ErrBusy
		}
	}
	return ErrNoBackend
}

// rebuild replaces the snapshot after a backend left or joined the
// rotation. The caller holds p.mu.
func (p *Pool) rebuild() {
	s := &set{pool: p}
	for _, b := range p.backends {
		if b.Healthy() {
			s.up = append(s.up, b)
			s.weight += int64(b.Weight)
			s.trials = s.trials || b.trial.Load() != trialNone
			s.capped = s.capped || b.MaxConns > 0
		}
	}
	s.seq = smoothSequence(s.up)
	p.policy.prepare(s)
	p.set.Store(s)
	if p.queue.waiters.Load() > 0 {
		p.queue.wake()
	}
}

// maxSequence bounds the precomputed weighted round-robin sequence; larger
// weight sums are scaled down, keeping their proportions within 1/maxSequence.
const maxSequence = 1 << 14

// smoothSequence returns nginx's smooth weighted round-robin order over up
// as indices into up: each step adds every backend's weight to its current
// score, picks the highest score and subtracts the total from it. Weights
// 5,1,1 give 0 0 1 0 2 0 0. The order repeats with a period of the sum of
// the weights divided by their greatest common divisor.
func smoothSequence(up []*Backend) []int32 {
	if len(up) == 0 {
		return nil
	}
	w := make([]int64, len(up))
	g, total := int64(0), int64(0)
	for i, b := range up {
		w[i] = int64(b.Weight)
		g = gcd(g, w[i])
		total += w[i]
	}
	for i := range w {
		w[i] /= g
	}
	total /= g
	if total > maxSequence {
		scaled := int64(0)
		for i := range w {
			w[i] = max(1, w[i]*maxSequence/total)
			scaled += w[i]
		}
		total = scaled
	}
	seq := make([]int32, 0, total)
	cur := make([]int64, len(up))
	for range total {
		best := 0
		for i := range cur {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		seq = append(seq, int32(best))
	}
	return seq
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
