//go:build !race

package pluginhost_test

import (
	"testing"

	"github.com/spillway-lb/spillway/adapter"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// The host's own work per request (worker hand-off, timer, deadline
// context, result handling, exchange) allocates nothing: a request through
// a plugin that touches nothing costs exactly what the adapter's
// conversions cost on their own.
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
	if withHost > adapterOnly {
		t.Errorf("host + adapter: %.1f allocs/request; adapter alone: %.1f; the host must add none", withHost, adapterOnly)
	}
}
