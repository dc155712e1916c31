package bench

import (
	"net/http"
	"path/filepath"
	goplugin "plugin"
	"testing"

	"github.com/spillway-lb/spillway/pluginhost/examples/addheader/headerplugin"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// The header the add-header plugin sets in both phases.
const (
	pluginRequestHeader  = headerplugin.Header
	pluginResponseHeader = headerplugin.Header
	pluginHeaderValue    = headerplugin.Value
)

// baselineHooks returns a plugin mode's handler as net/http hooks. For
// soPlugin it loads the same .so file Spillway's setup loads, and skips tb
// when that is not possible.
func baselineHooks(tb testing.TB, m pluginMode) hooks {
	switch m {
	case inProcPlugin:
		return terrasterHooks(headerplugin.New())
	case soPlugin:
		return terrasterHooks(openSO(tb))
	}
	return hooks{}
}

// terrasterHooks calls h the way Terraster's plugin manager does: on the
// outgoing request and on the backend's response, with the request's
// context, releasing pooled results. Terraster also wraps each request in
// a context.WithTimeout; that is left out, which only flatters the
// baseline.
func terrasterHooks(h plugin.Handler) hooks {
	release := func(r *plugin.Result) {
		if r != nil && r != plugin.ResultContinue && r != plugin.ResultModify {
			r.Release()
		}
	}
	return hooks{
		request:  func(r *http.Request) { release(h.ProcessRequest(r.Context(), r)) },
		response: func(r *http.Response) { release(h.ProcessResponse(r.Request.Context(), r)) },
	}
}

// openSO returns a handler from soFile's New. The runtime loads a file once
// per process, so this is the very code pluginhost.Load runs for Spillway;
// the handler itself is a new one.
func openSO(tb testing.TB) plugin.Handler {
	tb.Helper()
	soDirectory(tb) // skips when not built
	abs, _ := filepath.Abs(soFile)
	p, err := goplugin.Open(abs)
	if err != nil {
		tb.Skipf("%s does not load into this test binary (rebuild it with `make plugins`; -race builds differ): %v", soFile, err)
	}
	sym, err := p.Lookup("New")
	if err != nil {
		tb.Fatalf("%s: %v", soFile, err)
	}
	newFn, ok := sym.(func() plugin.Handler)
	if !ok {
		tb.Fatalf("%s: New is %T, want func() plugin.Handler", soFile, sym)
	}
	return newFn()
}
