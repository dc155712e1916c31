package adapter

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// reqContext is the context.Context of a converted request. It forwards to
// the fasthttp.RequestCtx it is bound to (deadline, server shutdown, user
// values). It lives inside the Exchange so that binding it to a request
// allocates nothing; http.Request.WithContext would allocate a Request.
//
// Once unbound (Release, Abandon) it reports context.Canceled, so a plugin
// that overran its budget learns that its request is over, and it never
// reaches a fasthttp.RequestCtx that fasthttp has handed to another request.
type reqContext struct {
	ctx atomic.Pointer[fasthttp.RequestCtx]
}

var _ context.Context = (*reqContext)(nil)

// closed is the Done channel of an unbound reqContext.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (c *reqContext) bind(ctx *fasthttp.RequestCtx) { c.ctx.Store(ctx) }
func (c *reqContext) unbind()                       { c.ctx.Store(nil) }

// Deadline forwards to the bound RequestCtx; fasthttp reports none.
func (c *reqContext) Deadline() (time.Time, bool) {
	if ctx := c.ctx.Load(); ctx != nil {
		return ctx.Deadline()
	}
	return time.Time{}, false
}

// Done is closed when the server shuts down or the exchange has ended.
func (c *reqContext) Done() <-chan struct{} {
	if ctx := c.ctx.Load(); ctx != nil {
		return ctx.Done()
	}
	return closed
}

// Err is context.Canceled after the server shut down or the exchange ended.
func (c *reqContext) Err() error {
	if ctx := c.ctx.Load(); ctx != nil {
		return ctx.Err()
	}
	return context.Canceled
}

// Value returns the fasthttp user value stored under key, if any.
func (c *reqContext) Value(key any) any {
	if ctx := c.ctx.Load(); ctx != nil {
		return ctx.Value(key)
	}
	return nil
}
