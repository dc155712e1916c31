//go:build !race

package pluginhost_test

import (
	"testing"

	"github.com/spillway-lb/spillway/adapter"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// The host's own work per request (worker hand-off, timer, result
// handling, exchange) allocates nothing beyond the context each plugin
// call gets (a plugin may keep it, so it is never reused; see callCtx): a
// request through a plugin that touches nothing costs what the adapter's
// conversions cost on their own plus one context per phase.
func TestHostAllocatesNothingBeyondTheAdapter(t *testing.T) {
	h, err := pluginhost.New([]plugin.Handler{noop{}}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(t.Context())
	ctx := browserRequest()
	adapterOnly := testing.AllocsPerRun(200, func() {
		x := adapter.Acquire(ctx)
		x.Request()
		x.ApplyRequest()
		x.Response()
		x.ApplyResponse()
		adapter.Release(x)
	})
	withHost := testing.AllocsPerRun(200, func() {
		x, answered := h.Request(ctx)
		if answered {
			t.Fatal("noop plugin answered")
		}
		x.Response(ctx)
		x.Release()
	})
	const contexts = 2 // one plugin, two phases
	if withHost > adapterOnly+contexts {
		t.Errorf("host + adapter: %.1f allocs/request; adapter alone: %.1f; the host must add only its %d contexts",
			withHost, adapterOnly, contexts)
	}
}
