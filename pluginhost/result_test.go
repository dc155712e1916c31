package pluginhost_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// stopper answers every request itself with the Result its stop makes.
type stopper struct{ stop func() *plugin.Result }

func (stopper) Name() string   { return "stopper" }
func (stopper) Priority() int  { return 0 }
func (stopper) Cleanup() error { return nil }
func (s stopper) ProcessRequest(context.Context, *http.Request) *plugin.Result {
	return s.stop()
}
func (stopper) ProcessResponse(context.Context, *http.Response) *plugin.Result {
	return plugin.ResultContinue
}

func stopRig(t *testing.T, stop func() *plugin.Result) *rig {
	t.Helper()
	h, err := pluginhost.New([]plugin.Handler{stopper{stop}}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return startRig(t, h)
}

// A Terraster plugin sets headers on the Result after making it; here that
// used to write to a nil map, and the client got 500.
func TestStopWithHeadersSetAfterNewResultAnswersWithThem(t *testing.T) {
	t.Parallel()
	r := stopRig(t, func() *plugin.Result {
		res := plugin.NewResult(plugin.Stop, plugin.WithStatus(http.StatusUnauthorized))
		res.Headers.Set("WWW-Authenticate", `Bearer realm="api"`)
		return res
	})
	got := r.get(t, "/private")
	if got.status != http.StatusUnauthorized || got.header.Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Errorf("got %d with WWW-Authenticate %q, want 401 with the challenge", got.status, got.header.Get("WWW-Authenticate"))
	}
}
