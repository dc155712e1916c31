package balancer

import (
	"sync"
	"sync/atomic"
	"time"
)

// queue lets Pick wait for a backend below its MaxConns. Waiting is the
// only blocking path of Pick; Done pays for it only while someone waits.
type queue struct {
	timeout time.Duration
	waiters atomic.Int32
	mu      sync.Mutex
	ch      chan struct{} // closed and replaced by wake
}

// signal returns a channel closed by the next wake.
func (q *queue) signal() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ch == nil {
		q.ch = make(chan struct{})
	}
	return q.ch
}

// wake releases every waiter to try again.
func (q *queue) wake() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ch != nil {
		close(q.ch)
		q.ch = nil
	}
}

// wait retries the pick each time a request ends or the rotation changes,
// until it succeeds, no backend is usable any more (ErrNoBackend), or the
// queue timeout passes (ErrBusy).
func (p *Pool) wait(r *Request) (*Backend, error) {
	p.queue.waiters.Add(1)
	defer p.queue.waiters.Add(-1)
	t := time.NewTimer(p.queue.timeout)
	defer t.Stop()
	for {
		// Take the channel before trying, so a Done between the try and
		// the select is not missed.
		ch := p.queue.signal()
		s := p.set.Load()
		if b := p.policy.pick(s, r); b != nil {
			return b, nil
		}
		if err := s.why(r); err != ErrBusy {
			return nil, err
		}
		select {
		case <-ch:
		case <-t.C:
			return nil, ErrBusy
		}
	}
}
