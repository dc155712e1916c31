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

// A plugin call runs on a worker goroutine while the request's goroutine
// waits for it, so a plugin that overruns its budget costs the client no
// more than the budget: a watchdog wakes the waiter, which answers 504 and
// leaves the call to finish on its own. Calls, their done channels and
// deadline contexts are pooled, and workers are long-lived, so the normal
// path starts no goroutine and allocates nothing.
//
// The waiter blocks on one channel and each worker on its own, rather than
// a select over a per-call timer and a shared job channel: a select with a
// timer puts the timer in the runtime's heap and locks every channel it
// names, and Reset and Stop touch the heap again. On one core that halved
// the host's own cost per request (BenchmarkHost: noop minus adapter,
// about 1.1µs before, 0.4µs after). The price is granularity: an overrun is
// noticed on the watchdog's next tick, at most one tick (see tickFor) after
// the budget.

// Call states; the waiter and the watchdog race the worker to move a call
// out of running.
const (
	callRunning int32 = iota
	callFinished
	callAbandoned
)

// epoch is the origin of call deadlines held as monotonic nanoseconds, so a
// deadline fits an atomic the watchdog can read while the call is reused.
var epoch = time.Now()

// call is one invocation of one plugin's phase method.
type call struct {
	state atomic.Int32
	due   atomic.Int64  // deadline, nanoseconds since epoch
	done  chan struct{} // capacity 1: exactly one of worker and watchdog sends
	ctx   *callCtx

	p    *entry
	req  *http.Request  // request phase when resp is nil
	resp *http.Response // response phase
	res  *plugin.Result

	panicked bool
	panicVal any
	stack    []byte
}

var callPool = sync.Pool{New: func() any {
	return &call{done: make(chan struct{}, 1), ctx: new(callCtx)}
}}

// outcome is how a call ended.
type outcome int

const (
	ranOK outcome = iota
	ranPanicked
	ranTimedOut
)

// exec runs on a worker: the plugin method, with panics caught.
func (c *call) exec() {
	defer func() {
		if v := recover(); v != nil {
			c.panicked, c.panicVal, c.stack = true, v, debug.Stack()
		}
		if c.state.CompareAndSwap(callRunning, callFinished) {
			c.done <- struct{}{}
			return
		}
		// The watchdog gave up on it; nobody will read the result.
		c.res.Release()
		c.ctx.finish(context.Canceled)
	}()
	if c.resp != nil {
		c.res = c.p.h.ProcessResponse(c.ctx, c.resp)
	} else {
		c.res = c.p.h.ProcessRequest(c.ctx, c.req)
	}
}

// expire abandons c if it is still running past its deadline (now, in
// nanoseconds since epoch) and wakes its waiter. It touches only what
// stays valid while c is recycled, so a stale pointer is harmless: a
// reused call is judged by its own deadline.
func (c *call) expire(now int64) {
	if now >= c.due.Load() && c.state.CompareAndSwap(callRunning, callAbandoned) {
		c.done <- struct{}{}
	}
}

// workers hands calls to idle long-lived goroutines, starting one more only
// when none is idle, so their number settles at the peak of concurrent
// plugin calls (plus any stuck in plugins that never return: Go cannot stop
// a goroutine, so a plugin that hangs for ever keeps its worker). While any
// call may be running, a watchdog goroutine checks the busy workers' calls
// every tick; it exits after a second without calls and is started again
// by the next call.
type workers struct {
	tick      time.Duration
	idleTicks int // ticks without a call before the watchdog exits

	mu       sync.Mutex
	all      []*worker // every worker not yet exited, for the watchdog
	idle     []*worker // waiting on their jobs channel
	stopped  bool
	watching bool // the watchdog runs
}

// worker is one goroutine running calls; cur is the call it was handed
// last, read by the watchdog.
type worker struct {
	jobs chan *call // capacity 1; closed by stop when idle
	cur  atomic.Pointer[call]
}

// tickFor is the watchdog's period for the shortest budget of a chain: a
// twentieth of it, between 1ms and 20ms, so an overrun is answered within
// 5% of the budget (or 20ms) while an idle proxy pays for at most 50
// wake-ups a second, and none a second after its last plugin call.
func tickFor(shortest time.Duration) time.Duration {
	return min(max(shortest/20, time.Millisecond), 20*time.Millisecond)
}

// newWorkers returns an empty pool whose watchdog ticks every tick and
// exits after about a second without calls.
func newWorkers(tick time.Duration) *workers {
	return &workers{tick: tick, idleTicks: int(time.Second/tick) + 1}
}

// run hands c to an idle worker, or a new one.
func (w *workers) run(c *call) {
	w.mu.Lock()
	var wk *worker
	if n := len(w.idle); n > 0 {
		wk = w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
	} else {
		wk = &worker{jobs: make(chan *call, 1)}
		w.all = append(w.all, wk)
		go w.loop(wk)
	}
	// Stored under mu, so the watchdog cannot decide there is nothing to
	// watch between this call's start and its being visible.
	wk.cur.Store(c)
	if !w.watching {
		w.watching = true
		go w.watch()
	}
	w.mu.Unlock()
	wk.jobs <- c
}

func (w *workers) loop(wk *worker) {
	for c := range wk.jobs {
		c.exec()
		wk.cur.Store(nil)
		w.mu.Lock()
		if w.stopped {
			w.remove(wk)
			w.mu.Unlock()
			return
		}
		w.idle = append(w.idle, wk)
		w.mu.Unlock()
	}
}

// remove drops wk from all; under mu.
func (w *workers) remove(wk *worker) {
	for i, o := range w.all {
		if o == wk {
			w.all[i] = w.all[len(w.all)-1]
			w.all[len(w.all)-1] = nil
			w.all = w.all[:len(w.all)-1]
			return
		}
	}
}

// watch expires overdue calls every tick until no call has run for
// idleTicks ticks.
func (w *workers) watch() {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	quiet := 0
	for range t.C {
		now := int64(time.Since(epoch))
		w.mu.Lock()
		busy := false
		for _, wk := range w.all {
			if c := wk.cur.Load(); c != nil && c.state.Load() == callRunning {
				busy = true
				c.expire(now)
			}
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
		if quiet >= w.idleTicks {
			w.watching = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}

// stop lets idle workers exit; busy ones exit when their call returns.
// Calls made after stop still run, each on a worker that then exits.
func (w *workers) stop() {
	w.mu.Lock()
	w.stopped = true
	for _, wk := range w.idle {
		close(wk.jobs)
		w.remove(wk)
	}
	w.idle = nil
	w.mu.Unlock()
}

// invoke calls p's phase method (response phase when resp is non-nil) under
// p's budget. On ranOK the caller owns res; on ranTimedOut the plugin may
// still be running and holds req or resp.
func (h *Host) invoke(p *entry, parent context.Context, req *http.Request, resp *http.Response) (res *plugin.Result, o outcome) {
	c := callPool.Get().(*call)
	c.p, c.req, c.resp = p, req, resp
	c.state.Store(callRunning)
	deadline := time.Now().Add(p.timeout)
	c.due.Store(int64(deadline.Sub(epoch)))
	c.ctx.start(parent, deadline)
	h.workers.run(c)
	<-c.done
	if c.state.Load() == callAbandoned {
		// c stays with the worker; it is never reused.
		c.ctx.finish(context.DeadlineExceeded)
		h.log.Error("plugin exceeded its timeout; answering 504",
			"plugin", p.name, "timeout", p.timeout)
		return nil, ranTimedOut
	}
	res = c.res
	o = ranOK
	if c.panicked {
		h.log.Error("plugin panicked; answering 500", "plugin", p.name,
			"panic", c.panicVal, "stack", string(c.stack))
		res.Release()
		res, o = nil, ranPanicked
	}
	h.putCall(c)
	return res, o
}

// putCall recycles c unless its context escaped to the plugin.
func (h *Host) putCall(c *call) {
	if c.ctx.finish(context.Canceled) {
		c.ctx = new(callCtx) // the plugin may still watch the old Done
	}
	c.p, c.req, c.resp, c.res = nil, nil, nil, nil
	c.panicked, c.panicVal, c.stack = false, nil, nil
	callPool.Put(c)
}

// callCtx is the context a plugin receives: its deadline, and the request
// context's values. Done's channel is made only when a plugin asks for it,
// and then the context is not reused, so a plugin that watches Done after
// returning sees it closed, never another request's.
type callCtx struct {
	mu       sync.Mutex
	parent   context.Context
	deadline time.Time
	done     chan struct{}
	err      error
}

var _ context.Context = (*callCtx)(nil)

func (c *callCtx) start(parent context.Context, deadline time.Time) {
	if parent == nil {
		parent = context.Background()
	}
	c.parent, c.deadline, c.err = parent, deadline, nil
}

// finish ends the context with err and reports whether Done was handed out.
func (c *callCtx) finish(err error) (escaped bool) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	escaped = c.done != nil
	if escaped {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
	}
	c.mu.Unlock()
	return escaped
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

// Err is context.DeadlineExceeded once the budget is spent.
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
