package pluginhost

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillway-lb/spillway/adapter"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
	"github.com/valyala/fasthttp"
)

// A phase of the plugin chain runs on the goroutine serving the client's
// connection: the plugins in order, each under its own budget, stopping at
// the first that answers Stop or panics. A plugin that overruns its budget
// cannot be stopped (Go has no way to), so the watchdog (watchdog.go)
// answers the client itself, from a goroutine of its own: it writes the
// 504 on the connection and closes it, which fastproxy allows because
// nothing is buffered unsent on a connection while a phase runs (see
// fastproxy.Plugins). The serving goroutine finds the call abandoned once
// the plugin returns, if ever, and only cleans up.
//
// Running the phase on a worker goroutine instead, with the serving
// goroutine waiting for it, costs two goroutine switches per phase: on one
// core, requests through one plugin were served at 0.65–0.82× of the
// no-plugin rate that way against 0.84–0.88× inline (README, Benchmarks).
// Calls are pooled, and the normal path starts no goroutine; it allocates
// one context per plugin call (see callCtx), the first plugin's of both
// phases together. An overrun is noticed on the watchdog's next tick, at
// most one tick (see tickFor) after the budget.

// A call's state is its kind in the low two bits and the index of the
// plugin it runs (or ended on) above them. The watchdog and the serving
// goroutine race with compare-and-swap: the watchdog abandons a running
// call only at the index whose deadline it read, and the chain moves on to
// the next plugin only if the call was not abandoned.
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
	done  chan struct{}           // capacity 1: the watchdog's answer to an abandoned call is written
	ctx   atomic.Pointer[callCtx] // the running plugin's; read by the watchdog's answer
	to    rescue
	log   *slog.Logger

	chain  []*entry
	parent context.Context
	req    *http.Request  // request phase when resp is nil
	resp   *http.Response // response phase
	res    *plugin.Result // a Stop result, for phase

	panicked bool
	panicVal any
	stack    []byte
}

// rescue is what the watchdog needs to answer the client of a call that
// overran its budget while its plugin still runs.
type rescue struct {
	ctx  *fasthttp.RequestCtx // the request, for the access log and metrics
	conn net.Conn             // the client's connection; nil: nobody to answer (tests)
	head bool                 // a HEAD request: the 504 has no body
	ax   *adapter.Exchange    // abandoned, so that the plugin's body reads fail
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

// exec runs the chain's phase methods in order.
func (c *call) exec() {
	at := 0
	for i, p := range c.chain {
		if i > 0 && !c.advance(i, p) {
			return // abandoned just as plugin i-1 returned
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
	if !c.state.CompareAndSwap(callState(callRunning, at), callState(callFinished, at)) {
		// The watchdog gave up on it; nobody will read the result.
		c.res.Release()
		c.res = nil
	}
}

// run calls p's phase method, catching a panic, and ends its context as
// soon as it returns: a plugin that kept ctx sees Done closed from then on.
func (c *call) run(p *entry) (res *plugin.Result) {
	ctx := c.ctx.Load()
	defer func() {
		ctx.finish(context.Canceled) // no-op if the watchdog gave up first
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
// nanoseconds since epoch) and has its client answered. It touches only
// what stays valid while c is recycled, so a stale pointer is harmless: a
// reused call is judged by its own deadline. The state is read before the
// deadline, so a chain that moved on meanwhile makes the swap fail.
func (c *call) expire(now int64) {
	s := c.state.Load()
	if s&(1<<kindBits-1) == callRunning && now >= c.due.Load() &&
		c.state.CompareAndSwap(s, s&^(1<<kindBits-1)|callAbandoned) {
		go c.answer(c.chain[s>>kindBits]) // a write may block; the watchdog serves every call
	}
}

// answer ends the abandoned call c, whose plugin p overran its budget, for
// everyone but p: p's context reports the deadline and its later body
// reads fail (Abandon), both before the client can see its 504; then the
// connection is closed, which also fails a read of the request body that
// waits on the client. It logs the overrun now, not when p returns: p may
// never return. It signals done last, and touches c no more: the serving
// goroutine then recycles it.
func (c *call) answer(p *entry) {
	c.log.Error("plugin exceeded its timeout; answering 504", "plugin", p.name, "timeout", p.timeout)
	c.ctx.Load().finish(context.DeadlineExceeded)
	if c.to.ax != nil {
		c.to.ax.Abandon()
	}
	if c.to.conn != nil {
		n := answerOnConn(c.to.conn, c.to.head)
		// The serving goroutine waits for done before it touches ctx.
		fastproxy.RecordRescue(c.to.ctx, fasthttp.StatusGatewayTimeout, n)
	}
	c.done <- struct{}{}
}

// phase runs the request phase of the plugins taking part in it on req,
// or the response phase on resp when resp is non-nil (none taking part:
// Continue). It stops at the first plugin that answers Stop (its result is
// returned; the caller releases it), panics (ranPanicked) or overruns its
// budget (ranTimedOut: the watchdog answered the client on to.conn and
// abandoned to.ax). The results of plugins that went on are released.
// first, when not nil, is a fresh zero context for the first plugin, so
// that a request's two phases can share one allocation.
func (h *Host) phase(parent context.Context, req *http.Request, resp *http.Response, to rescue, first *callCtx) (res *plugin.Result, o outcome) {
	ch := h.chains.Load()
	chain := ch.onRequest
	if resp != nil {
		chain = ch.onResponse
	}
	if len(chain) == 0 {
		return plugin.ResultContinue, ranOK // emptied by Reconfigure since the caller looked
	}
	c := callPool.Get().(*call)
	c.chain, c.parent, c.req, c.resp, c.to, c.log = chain, parent, req, resp, to, h.log
	p := chain[0]
	deadline := time.Now().Add(p.timeout)
	if first == nil {
		first = new(callCtx)
	}
	first.init(parent, deadline)
	c.ctx.Store(first)
	c.due.Store(int64(deadline.Sub(epoch)))
	c.state.Store(callState(callRunning, 0))
	s := h.watch.enter(c)
	c.exec()
	h.watch.leave(s)
	state := c.state.Load()
	at := int(state >> kindBits)
	if state&(1<<kindBits-1) == callAbandoned {
		<-c.done // the client has its answer, and the log its line
		h.putCall(c)
		return nil, ranTimedOut
	}
	res, o = c.res, ranOK
	if c.panicked {
		h.log.Error("plugin panicked; answering 500", "plugin", chain[at].name,
			"panic", c.panicVal, "stack", string(c.stack))
		res.Release()
		res, o = nil, ranPanicked
	}
	h.putCall(c)
	return res, o
}

// putCall recycles c. The plugins' contexts are not part of it: a plugin
// may have kept its own.
func (h *Host) putCall(c *call) {
	c.ctx.Store(nil)
	c.chain, c.parent, c.req, c.resp, c.res, c.to, c.log = nil, nil, nil, nil, nil, rescue{}, nil
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
// the serving goroutine, the watchdog's answer and the plugin's goroutines
// may touch at once.
type callCtx struct {
	parent   context.Context
	deadline time.Time

	mu   sync.Mutex
	done chan struct{}
	err  error
}

var _ context.Context = (*callCtx)(nil)

func newCallCtx(parent context.Context, deadline time.Time) *callCtx {
	c := new(callCtx)
	c.init(parent, deadline)
	return c
}

// init readies a zero callCtx, before any plugin sees it.
func (c *callCtx) init(parent context.Context, deadline time.Time) {
	if parent == nil {
		parent = context.Background()
	}
	c.parent, c.deadline = parent, deadline
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
