// Package middleware implements Spillway's built-in middleware (Terraster's
// rate_limit, security, cors and compression) directly on fasthttp types,
// with no net/http conversion. circuit_breaker is configuration for the
// balancer's passive ejection and has no runtime here.
//
// What each kind does:
//
//   - rate_limit: a token bucket per client address (IPv6 clients per /64),
//     in a fixed-size table of 65,536 clients that forgets the least
//     recently seen; over the limit the answer is 429 with Retry-After in
//     whole seconds. burst 0 means one second's worth of requests.
//   - security: Strict-Transport-Security (on TLS answers only; max-age
//     defaults to one year), X-Frame-Options, X-Content-Type-Options and
//     X-XSS-Protection, replacing the backend's.
//   - cors: preflights are answered by the proxy with 204; answers to
//     allowed origins get Access-Control-Allow-Origin ("*" only without
//     credentials, else the origin echoed with Vary: Origin).
//   - compression: br, gzip or zstd (zstd only when the client names it)
//     by Accept-Encoding q-values, for compressible types of at least 512
//     bytes not already encoded; streamed bodies are compressed as they
//     stream.
//
// New is the slow path: it validates the configuration and precomputes
// every header value. Request and Response are the hot path and allocate
// nothing per request, except inside fasthttp's codecs when a body is
// compressed (two small objects per body, and a goroutine and a pipe per
// streamed body).
package middleware

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// Chain is the middleware of one service: the global list with the
// service's entries replacing those of the same kind. It is safe for
// concurrent use by the requests of its service. The zero Chain does
// nothing.
type Chain struct {
	limit    *rateLimit
	security *security
	cors     *cors
	compress *compression
}

// New builds the chain of a service from the global and service lists.
// A kind set in service replaces the global entry of that kind; within one
// list a later entry of a kind replaces an earlier one. An entry with no
// other kind set is a compression entry, so "compression: false" in a
// service turns off a global "compression: true". circuit_breaker entries
// are ignored (the balancer reads them). New fails on values no request
// could be served with, such as a non-positive requests_per_second: those
// the kinds' Check methods in configs report, which -check reports too.
func New(global, service []configs.Middleware) (*Chain, error) {
	var pick struct {
		limit    *configs.RateLimit
		security *configs.Security
		cors     *configs.CORS
		compress bool
	}
	// Later entries win, so the service's entries, read second, replace
	// whole kinds of the global list (fields are not merged).
	for _, list := range [][]configs.Middleware{global, service} {
		for _, m := range list {
			switch {
			case m.RateLimit != nil:
				pick.limit = m.RateLimit
			case m.Security != nil:
				pick.security = m.Security
			case m.CORS != nil:
				pick.cors = m.CORS
			case m.CircuitBreaker != nil:
			default:
				pick.compress = m.Compression
			}
		}
	}
	c := &Chain{}
	var err error
	if pick.limit != nil {
		if c.limit, err = newRateLimit(pick.limit); err != nil {
			return nil, fmt.Errorf("middleware rate_limit: %w", err)
		}
	}
	if pick.security != nil {
		if c.security, err = newSecurity(pick.security); err != nil {
			return nil, fmt.Errorf("middleware security: %w", err)
		}
	}
	if pick.cors != nil {
		if c.cors, err = newCORS(pick.cors); err != nil {
			return nil, fmt.Errorf("middleware cors: %w", err)
		}
	}
	if pick.compress {
		c.compress = newCompression()
	}
	return c, nil
}

// invalid joins the problems a kind's Check found, or returns nil. The
// rules live in configs so that New refuses exactly what -check reports.
func invalid(errs []configs.FieldError) error {
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// Empty reports whether the chain does nothing, so the proxy can skip it.
func (c *Chain) Empty() bool {
	return c.limit == nil && c.security == nil && c.cors == nil && c.compress == nil
}

// Request runs the request side. client is the real client address (the
// rate limit's key). answered reports that the chain wrote the answer (429,
// a CORS preflight) into ctx.Response, complete with the security and CORS
// response headers, and the request must not be forwarded. Running
// Response on such an answer as well is harmless.
func (c *Chain) Request(ctx *fasthttp.RequestCtx, client netip.Addr) (answered bool) {
	switch {
	case c.limit != nil && c.limit.refuse(ctx, client):
		// Headers for the 429 too, so a browser script can read it.
		c.headers(ctx)
		return true
	case c.cors != nil && c.cors.preflight(ctx):
		if c.security != nil {
			c.security.apply(ctx)
		}
		return true
	}
	return false
}

// Response runs the response side on ctx.Response before it is written:
// security headers, CORS headers, then compression, which comes last
// because it replaces the body.
func (c *Chain) Response(ctx *fasthttp.RequestCtx) {
	c.headers(ctx)
	if c.compress != nil {
		c.compress.apply(ctx)
	}
}

func (c *Chain) headers(ctx *fasthttp.RequestCtx) {
	if c.security != nil {
		c.security.apply(ctx)
	}
	if c.cors != nil {
		c.cors.apply(ctx)
	}
}

// Close releases the chain's resources. The rate limit's table is fixed in
// size and expires idle clients as it goes, so there is no janitor to stop;
// Close exists so the proxy need not know that.
func (c *Chain) Close() {}
