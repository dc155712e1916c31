// Package headerplugin is the minimal plugin the benchmarks run: it adds one
// header to each request and one to each response. It lives outside package
// main so benchmarks can run the same handler in-process
// (pluginhost.New([]plugin.Handler{headerplugin.New()}, nil, nil)) and
// behind httputil.ReverseProxy.
package headerplugin

import (
	"context"
	"net/http"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// Header is the header set in both directions; its value is Value.
const (
	Header = "X-Spillway-Plugin"
	Value  = "addheader"
)

// Plugin adds Header: Value to requests and responses. It has no state.
type Plugin struct{}

// New returns the plugin.
func New() plugin.Handler { return Plugin{} }

// Name returns "addheader".
func (Plugin) Name() string { return "addheader" }

// Priority returns 100: after the guide example.
func (Plugin) Priority() int { return 100 }

// Cleanup does nothing.
func (Plugin) Cleanup() error { return nil }

// ProcessRequest sets Header on the request to the backend.
func (Plugin) ProcessRequest(_ context.Context, req *http.Request) *plugin.Result {
	req.Header.Set(Header, Value)
	return plugin.ResultModify
}

// ProcessResponse sets Header on the response to the client.
func (Plugin) ProcessResponse(_ context.Context, resp *http.Response) *plugin.Result {
	resp.Header.Set(Header, Value)
	return plugin.ResultModify
}
