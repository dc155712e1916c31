package pluginhost

import (
	"context"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// A phase of the plugin chain runs on a worker goroutine (workers.go) while
// the request's goroutine waits for it, so a plugin that overruns its
// budget costs the client no more than the budget: a watchdog wakes the
// waiter, which answers 504 and leaves the call to finish on its own.
// Calls and their done channels are pooled, and workers are long-lived, so
// the normal path starts no goroutine; it allocates one context per plugin
// call (see callCtx).
//
// One hand-off carries a whole phase: the worker runs the plugins in
// order, each under its own budget, and stops at the first that answers
// Stop or panics. A hand-off is two goroutine switches; one per plugin and
// phase cost about 1µs per request for every plugin after the first.
//
// The waiter blocks on one channel and each worker on its own, rather than
// a select over a per-call timer and a shared job channel: a select with a
// timer puts the timer in the runtime's heap and locks every channel it
// names, and Reset and Stop touch the heap again. On one core that halved
// the host's own cost per request (BenchmarkHost: noop minus adapter,
// about 1.1µs before, 0.4µs after). The price is granularity: an overrun is
// noticed on the watchdog's next tick, at most one tick (see tickFor) after
// the budget.

// A call's state is its kind in the low two bits and the index of the
// plugin it runs (or ended on) above them. The waiter's watchdog and the
// worker race with compare-and-swap: the watchdog abandons a running call
// only at the index whose deadline it read, and the worker moves on to the
// next plugin only if the call was not abandoned.
const (
	callRunning int32 = iota
	callFinished
	callAbandoned
	kindBits = 2
)

func callState(kind int32, at int) int32 { return int32(at)<<kindBits | kind }

// epoch is the origin of call deadlines held as monotonic nanoseconds, so a
// deadline fits an atomic the watchdog can read while the call is reused.
var epoch = time.Now()

// call is one phase of the chain on one request.
type call struct {
	state atomic.Int32
	due   atomic.Int64            // deadline of the running plugin, nanoseconds since epoch
	done  chan struct{}           // capacity 1: exactly one of worker and watchdog sends
	ctx   atomic.Pointer[callCtx] // the running plugin's; set by the worker, read by the waiter

	chain  []*entry
	parent context.Context
	req    *http.Request  // request phase when resp is nil
	resp   *http.Response // response phase
	res    *plugin.Result // a Stop result, for the waiter

	panicked bool
	panicVal any
	stack    []byte

	// onEnd is what the waiter of an abandoned call left to run when its
	// plugin finally returns (afterEnd), or &endedFn once it has.
	onEnd atomic.Pointer[func()]
}

// endedFn marks in call.onEnd an abandoned call whose plugin returned.
var endedFn = func() {}

// afterEnd runs f when the plugin of the abandoned call c returns, or at
// once if it already has. Only the waiter calls it, at most once.
func (c *call) afterEnd(f func()) {
	if !c.onEnd.CompareAndSwap(nil, &f) {
		f()
	}
}

// ended runs on the worker when the plugin of an abandoned call returns.
func (c *call) ended() {
	if f := c.onEnd.Swap(&endedFn); f != nil {
		(*f)()
	}
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

// outcome is how a phase ended.
type outcome int

const (
	ranOK outcome = iota
	ranPanicked
	ranTimedOut
)

// running reports whether c is still running a plugin.
func (c *call) running() bool { return c.state.Load()&(1<<kindBits-1) == callRunning }

// exec runs on a worker: the chain's phase methods in order.
func (c *call) exec() {
	at := 0
	for i, p := range c.chain {
		if i > 0 && !c.advance(i, p) {
			c.ended() // abandoned just as plugin i-1 returned
			return
		}
		at = i
		res := c.run(p)
		if c.panicked {
			break
		}
		if res.Action() == plugin.Stop {
			c.res = res
			break
		}
		res.Release()
	}
	if c.state.CompareAndSwap(callState(callRunning, at), callState(callFinished, at)) {
		c.done <- struct{}{}
		return
	}
	// The watchdog gave up on it; nobody will read the result.
	c.res.Release()
	c.ended()
}

// run calls p's phase method, catching a panic, and ends its context as
// soon as it returns: a plugin that kept ctx sees Done closed from then on.
func (c *call) run(p *entry) (res *plugin.Result) {
	ctx := c.ctx.Load()
	defer func() {
		ctx.finish(context.Canceled) // no-op if the waiter gave up first
		if v := recover(); v != nil {
			c.panicked, c.panicVal, c.stack = true, v, debug.Stack()
		}
	}()
	if c.resp != nil {
		return p.h.ProcessResponse(ctx, c.resp)
	}
	return p.h.ProcessRequest(ctx, c.req)
}

// advance gives plugin i its own deadline and context and marks it
// running, unless the watchdog abandoned plugin i-1 meanwhile.
func (c *call) advance(i int, p *entry) bool {
	deadline := time.Now().Add(p.timeout)
	ctx := newCallCtx(c.parent, deadline)
	c.ctx.Store(ctx)
	c.due.Store(int64(deadline.Sub(epoch)))
	if !c.state.CompareAndSwap(callState(callRunning, i-1), callState(callRunning, i)) {
		ctx.finish(context.Canceled)
		return false
	}
	return true
}

// expire abandons c if its running plugin is past its deadline (now, in
// nanoseconds since epoch) and wakes its waiter. It touches only what
// stays valid while c is recycled, so a stale pointer is harmless: a
// reused call is judged by its own deadline. The state is read before the
// deadline, so a worker that moved on meanwhile makes the swap fail.
func (c *call) expire(now int64) {
	s := c.state.Load()
	if s&(1<<kindBits-1) == callRunning && now >= c.due.Load() &&
		c.state.CompareAndSwap(s, s&^(1<<kindBits-1)|callAbandoned) {
		c.done <- struct{}{}
	}
}

// phase runs the request phase of the plugins taking part in it on req,
// or the response phase on resp when resp is non-nil, on one worker; that
// list must not be empty. It stops at the first plugin that answers Stop
// (its result is returned; the caller releases it), panics (ranPanicked)
// or overruns its budget (ranTimedOut: that plugin may still be running
// and holds req or resp; abandoned is its call, for afterEnd). The results
// of plugins that went on are released.
func (h *Host) phase(parent context.Context, req *http.Request, resp *http.Response) (res *plugin.Result, o outcome, abandoned *call) {
	chain := h.onRequest
	if resp != nil {
		chain = h.onResponse
	}
	c := callPool.Get().(*call)
	c.chain, c.parent, c.req, c.resp = chain, parent, req, resp
	p := chain[0]
	deadline := time.Now().Add(p.timeout)
	c.ctx.Store(newCallCtx(parent, deadline))
	c.due.Store(int64(deadline.Sub(epoch)))
	c.state.Store(callState(callRunning, 0))
	h.workers.run(c)
	<-c.done
	s := c.state.Load()
	at := int(s >> kindBits)
	if s&(1<<kindBits-1) == callAbandoned {
		// c stays with the worker; it is never reused.
		c.ctx.Load().finish(context.DeadlineExceeded)
		p = chain[at]
		h.log.Error("plugin exceeded its timeout; answering 504",
			"plugin", p.name, "timeout", p.timeout)
		return nil, ranTimedOut, c
	}
	res, o = c.res, ranOK
	if c.panicked {
		h.log.Error("plugin panicked; answering 500", "plugin", chain[at].name,
			"panic", c.panicVal, "stack", string(c.stack))
		res.Release()
		res, o = nil, ranPanicked
	}
	h.putCall(c)
	return res, o, nil
}

// putCall recycles c. The plugins' contexts are not part of it: a plugin
// may have kept its own.
func (h *Host) putCall(c *call) {
	c.ctx.Store(nil)
	c.chain, c.parent, c.req, c.resp, c.res = nil, nil, nil, nil, nil
	c.panicked, c.panicVal, c.stack = false, nil, nil
	callPool.Put(c)
}

// callCtx is the context a plugin receives: its deadline, and the request
// context's values. Each plugin call gets a new one, never reused, because
// a plugin may keep ctx past its call (hand it to a goroutine, as Go code
// does and Terraster allows): it must go on answering for its own call,
// and no pool can tell when the plugin has let go of it. That costs one
// allocation per call (see BenchmarkHost); the Done channel is made only
// when a plugin asks for it.
//
// parent and deadline are set before the plugin sees the context and never
// change, so Value and Deadline need no lock; mu guards done and err, which
// the worker, the waiter and the plugin's goroutines may touch at once.
type callCtx struct {
	parent   context.Context
	deadline time.Time

	mu   sync.Mutex
	done chan struct{}
	err  error
}

var _ context.Context = (*callCtx)(nil)

func newCallCtx(parent context.Context, deadline time.Time) *callCtx {
	if parent == nil {
		parent = context.Background()
	}
	return &callCtx{parent: parent, deadline: deadline}
}

// finish ends the context with err, unless it has already ended.
func (c *callCtx) finish(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
		if c.done != nil {
			close(c.done)
		}
	}
	c.mu.Unlock()
}

// Deadline returns the end of the plugin's budget for this call.
func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done is closed when the budget runs out or the call ends.
func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		}
	}
	d := c.done
	c.mu.Unlock()
	return d
}

// Err is context.Canceled once the call has returned, and
// context.DeadlineExceeded once the budget is spent.
func (c *callCtx) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err == nil && !time.Now().Before(c.deadline) {
		err = context.DeadlineExceeded
	}
	return err
}

// Value looks key up in the request's context.
func (c *callCtx) Value(key any) any { return c.parent.Value(key) }
