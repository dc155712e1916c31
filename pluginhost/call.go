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
// waits for it with a timer, so a plugin that overruns its budget costs the
// client no more than the budget: the waiter gives up, answers 504 and
// leaves the call to finish on its own. Calls, their done channels, timers
// and deadline contexts are pooled, and workers are long-lived, so the
// normal path starts no goroutine and allocates nothing.

// Call states; the waiter and the worker race to move a call out of running.
const (
	callRunning int32 = iota
	callFinished
	callAbandoned
)

// call is one invocation of one plugin's phase method.
type call struct {
	state atomic.Int32
	done  chan struct{} // capacity 1: the worker never blocks on it
	timer *time.Timer
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
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &call{done: make(chan struct{}, 1), timer: t, ctx: new(callCtx)}
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
		// The waiter gave up; nobody will read the result.
		c.res.Release()
		c.ctx.finish(context.Canceled)
	}()
	if c.resp != nil {
		c.res = c.p.h.ProcessResponse(c.ctx, c.resp)
	} else {
		c.res = c.p.h.ProcessRequest(c.ctx, c.req)
	}
}

// workers hands calls to idle long-lived goroutines, starting one more only
// when none is idle, so their number settles at the peak of concurrent
// plugin calls (plus any stuck in plugins that never return: Go cannot stop
// a goroutine, so a plugin that hangs for ever keeps its worker).
type workers struct {
	jobs chan *call
	quit chan struct{}
}

func newWorkers() *workers {
	return &workers{jobs: make(chan *call), quit: make(chan struct{})}
}

func (w *workers) run(c *call) {
	select {
	case w.jobs <- c:
	default:
		go w.loop(c)
	}
}

func (w *workers) loop(c *call) {
	for {
		c.exec()
		select {
		case c = <-w.jobs:
		case <-w.quit:
			return
		}
	}
}

// stop lets idle workers exit; calls still running finish first.
func (w *workers) stop() { close(w.quit) }

// invoke calls p's phase method (response phase when resp is non-nil) under
// p's budget. On ranOK the caller owns res; on ranTimedOut the plugin may
// still be running and holds req or resp.
func (h *Host) invoke(p *entry, parent context.Context, req *http.Request, resp *http.Response) (res *plugin.Result, o outcome) {
	c := callPool.Get().(*call)
	c.p, c.req, c.resp = p, req, resp
	c.state.Store(callRunning)
	c.ctx.start(parent, time.Now().Add(p.timeout))
	c.timer.Reset(p.timeout)
	h.workers.run(c)
	select {
	case <-c.done:
	case <-c.timer.C:
		if c.state.CompareAndSwap(callRunning, callAbandoned) {
			// c stays with the worker; it is never reused.
			c.ctx.finish(context.DeadlineExceeded)
			h.log.Error("plugin exceeded its timeout; answering 504",
				"plugin", p.name, "timeout", p.timeout)
			return nil, ranTimedOut
		}
		<-c.done // finished just as the timer fired
	}
	c.timer.Stop()
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
