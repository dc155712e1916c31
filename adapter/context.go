package adapter

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// reqContext is the context.Context of a converted request. It forwards
// the deadline of the fasthttp.RequestCtx it is bound to, but not its user
// values: it is rebound to the Exchange's next request, and a
// context a plugin kept would then answer with that request's values (see
// userValues). It lives inside the Exchange so that binding it to a
// request allocates nothing; http.Request.WithContext would allocate a
// Request.
//
// Once unbound (Release, Abandon) it reports context.Canceled, so a plugin
// that overran its budget learns that its request is over, and it never
// reaches a fasthttp.RequestCtx that fasthttp has handed to another request.
type reqContext struct {
	ctx atomic.Pointer[fasthttp.RequestCtx]

	// done is the request's own Done channel, made by the first Done call
	// of a request and closed when it ends (unbind), as net/http closes a
	// request's context when ServeHTTP returns: a plugin goroutine waiting
	// on it then ends instead of waiting for the server to shut down.
	mu   sync.Mutex
	done chan struct{}
}

var _ context.Context = (*reqContext)(nil)

// closed is the Done channel of an unbound reqContext.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (c *reqContext) bind(ctx *fasthttp.RequestCtx) { c.ctx.Store(ctx) }

func (c *reqContext) unbind() {
	c.ctx.Store(nil)
	c.mu.Lock()
	if c.done != nil {
		close(c.done)
		c.done = nil
	}
	c.mu.Unlock()
}

// Deadline forwards to the bound RequestCtx; fasthttp reports none.
func (c *reqContext) Deadline() (time.Time, bool) {
	if ctx := c.ctx.Load(); ctx != nil {
		return ctx.Deadline()
	}
	return time.Time{}, false
}

// Done is closed when the request ends (the server, shutting down, ends
// its requests too). The channel is made on the first call only, so a
// request whose plugins never ask costs nothing.
func (c *reqContext) Done() <-chan struct{} {
	if c.ctx.Load() == nil {
		return closed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Load() == nil { // ended meanwhile
		return closed
	}
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

// Err is context.Canceled once the request has ended, nil before: it
// agrees with Done.
func (c *reqContext) Err() error {
	if c.ctx.Load() != nil {
		return nil
	}
	return context.Canceled
}

// Value returns nil: the request's values are in userValues.
func (c *reqContext) Value(any) any { return nil }

// userValues is the context of a converted request whose RequestCtx held
// user values: a copy of them, taken at conversion, over the Exchange's
// reqContext. A copy, because a plugin may keep a context made from the
// request's past the request, and it must go on answering with this
// request's values, never those of a later request of the Exchange.
type userValues struct {
	*reqContext
	kv []any // key, value, key, value, ...
}

// Value returns the user value stored under key, matched as fasthttp
// matches it (a []byte key as a string).
func (u *userValues) Value(key any) any {
	if b, ok := key.([]byte); ok {
		key = string(b)
	}
	for i := 0; i < len(u.kv); i += 2 {
		if u.kv[i] == key {
			return u.kv[i+1]
		}
	}
	return nil
}

// bindUserValues gives x's request a context of its own holding a copy of
// the RequestCtx's user values, if it has any; Spillway sets none, so a
// request usually keeps reqContext and this allocates nothing. x.req must
// still be x.reqZero.
func (x *Exchange) bindUserValues() {
	var kv []any
	x.ctx.VisitUserValuesAll(func(k, v any) { kv = append(kv, k, v) })
	if kv != nil {
		// WithContext is inlined: its copy of the Request stays on the stack.
		x.req = *x.reqZero.WithContext(&userValues{reqContext: &x.rctx, kv: kv})
	}
}
