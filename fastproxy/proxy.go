package fastproxy

import "github.com/valyala/fasthttp"

// proxy serves the services of one listener port.
type proxy struct{}

// ServeHTTP handles one request from start to finish.
func (p *proxy) ServeHTTP(ctx *fasthttp.RequestCtx) {}
