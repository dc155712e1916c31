package fastproxy

import (
	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// proxy serves the services of one listener port.
type proxy struct{}

// newProxy builds the handler of one port from the services listening on
// it. cfg has been through configs.Prepare.
func newProxy(cfg *configs.Config, services []*configs.Service, opts Options) (*proxy, error) {
	return &proxy{}, nil
}

// ServeHTTP handles one request from start to finish.
func (p *proxy) ServeHTTP(ctx *fasthttp.RequestCtx) {}

// Close stops the port's health checks and middleware janitors and closes
// idle backend connections.
func (p *proxy) Close() {}
