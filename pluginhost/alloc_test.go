//go:build !race

package pluginhost_test

import (
	"testing"

	"github.com/spillway-lb/spillway/adapter"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// The host's own work per request (call, watchdog slot, result handling,
// exchange) allocates nothing beyond the contexts plugin calls get (a
// plugin may keep one, so none is reused; see callCtx): a request through
// a plugin that touches nothing costs what the adapter's conversions cost
// on their own plus one allocation holding the contexts of both phases.
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
	const contexts = 1 // one plugin: both phases' contexts in one allocation
	if withHost > adapterOnly+contexts {
		t.Errorf("host + adapter: %.1f allocs/request; adapter alone: %.1f; the host must add only %d for its contexts",
			withHost, adapterOnly, contexts)
	}
}
