package bench

import (
	"net/http"
	"testing"
)

// The headers the add-header plugin sets, one in each phase.
const (
	pluginRequestHeader  = "X-Bench-Plugin"
	pluginResponseHeader = "X-Bench-Plugin"
	pluginHeaderValue    = "addheader"
)

// baselineHooks returns the net/http hooks of a plugin mode.
func baselineHooks(tb testing.TB, m pluginMode) hooks {
	switch m {
	case inProcPlugin:
		return hooks{
			request:  func(r *http.Request) { r.Header.Set(pluginRequestHeader, pluginHeaderValue) },
			response: func(r *http.Response) { r.Header.Set(pluginResponseHeader, pluginHeaderValue) },
		}
	case soPlugin:
		tb.Skip("plugins/addheader.so: the plugin API is not there yet")
	}
	return hooks{}
}
