package pluginhost_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
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

// One package-level header map serves every request, the common way to
// keep CORS headers. Results made from it concurrently, with JSON bodies
// and headers added afterwards, answer with all of them and never write
// to it (a write would be a concurrent map write: a fatal error).
func TestSharedHeaderMapServesConcurrentStops(t *testing.T) {
	t.Parallel()
	cors := http.Header{"Access-Control-Allow-Origin": {"*"}}
	r := stopRig(t, func() *plugin.Result {
		res := plugin.NewResult(plugin.Stop, plugin.WithStatus(http.StatusForbidden),
			plugin.WithHeaders(cors), plugin.WithJSONResponse(map[string]string{"error": "no"}))
		res.Headers.Add("Access-Control-Allow-Origin", "https://shop.example")
		res.Headers.Set("Vary", "Origin")
		return res
	})
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				got, err := r.try("GET", "/", nil)
				if err != nil {
					errs <- err.Error()
					return
				}
				if acao := strings.Join(got.header.Values("Access-Control-Allow-Origin"), ","); got.status != 403 ||
					got.header.Get("Content-Type") != "application/json" || acao != "*,https://shop.example" {
					errs <- "got " + got.header.Get("Content-Type") + " " + acao
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if len(cors) != 1 || strings.Join(cors["Access-Control-Allow-Origin"], ",") != "*" {
		t.Errorf("the shared map was written to: %v", cors)
	}
}
