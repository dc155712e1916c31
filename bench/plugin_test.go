package bench

import (
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

// baselineHandler returns a plugin mode's handler for the baseline to run
// on net/http types, nil for no plugin. For soPlugin it loads the same .so
// file Spillway's setup loads, and skips tb when that is not possible.
func baselineHandler(tb testing.TB, m pluginMode) plugin.Handler {
	switch m {
	case inProcPlugin:
		return headerplugin.New()
	case soPlugin:
		return openSO(tb)
	}
	return nil
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
