package balancer

import "time"

// passive is the passive-health configuration of a Pool; the per-backend
// state lives in Backend (fails, ejected, trial, backoff).
type passive struct {
	threshold  int32 // consecutive failures that eject; 0 disables
	backoff    time.Duration
	maxBackoff time.Duration
	count5xx   bool
}

// done feeds one outcome to passive health; mayDecide is false for a
// request known not to be b's trial request. On the common path (a success
// on a backend without recent failures) it only reads two atomics.
func (ps *passive) done(p *Pool, b *Backend, o Outcome, mayDecide bool) {
	failed := o == ConnectFailed || o == Failed || (o == ServerError && ps.count5xx)
	if b.trial.Load() == trialTaken {
		switch {
		case !mayDecide:
			// Begun before the ejection: says nothing of the backend now.
		case o == NotSent:
			// The trial never reached the backend: the next request is
			// the trial. The snapshot still has the gate (trials is set).
			b.trial.CompareAndSwap(trialTaken, trialOpen)
		default:
			p.endTrial(b, failed)
		}
		return
	}
	if ps.threshold == 0 || o == NotSent || o == Streaming {
		return
	}
	if !failed {
		if b.fails.Load() != 0 {
			b.fails.Store(0)
		}
		return
	}
	if b.fails.Add(1) >= ps.threshold && !b.ejected.Load() {
		p.eject(b)
	}
}

// eject takes b out of rotation for its back-off: the configured one the
// first time, doubled (up to the maximum) each time its trial fails.
func (p *Pool) eject(b *Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || b.ejected.Load() {
		return
	}
	if b.backoff == 0 {
		b.backoff = p.passive.backoff
	} else {
		b.backoff = min(2*b.backoff, p.passive.maxBackoff)
	}
	// Eject before ending a trial so the old snapshot, which still lists
	// b, cannot admit anyone in between.
	b.ejected.Store(true)
	b.trial.Store(trialNone)
	b.fails.Store(0)
	p.rebuild()
	p.log.Warn("backend ejected", "backend", b.raw, "backoff", b.backoff)
	b.timer = time.AfterFunc(b.backoff, func() { p.openTrial(b) })
}

// openTrial returns b to rotation after its back-off with the trial gate
// open: the next request to take it is the only one until it is Done.
func (p *Pool) openTrial(b *Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !b.ejected.Load() {
		return
	}
	b.trial.Store(trialOpen)
	b.ejected.Store(false)
	p.rebuild()
	p.log.Info("backend on trial", "backend", b.raw)
}

// endTrial lets the trial request's outcome decide: eject again with a
// longer back-off, or back in rotation for good.
func (p *Pool) endTrial(b *Backend, failed bool) {
	if failed {
		p.eject(b)
		return
	}
	if !b.trial.CompareAndSwap(trialTaken, trialNone) {
		return
	}
	p.mu.Lock()
	b.backoff = 0
	b.fails.Store(0)
	p.rebuild() // no trial left: picks may skip the trial gate again
	p.mu.Unlock()
	p.log.Info("backend recovered", "backend", b.raw)
}
