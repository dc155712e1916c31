package pluginhost_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// watcher starts, for each request, a goroutine that waits for the
// request's context to end, as net/http code does to clean up after a
// request, and reports what it saw.
type watcher struct {
	during chan error // req.Context().Err() during ProcessRequest
	ended  chan error // Err once Done closed
}

func (w *watcher) Name() string   { return "watcher" }
func (w *watcher) Priority() int  { return 0 }
func (w *watcher) Cleanup() error { return nil }
func (w *watcher) ProcessRequest(_ context.Context, req *http.Request) *plugin.Result {
	rc := req.Context()
	w.during <- rc.Err()
	go func() {
		<-rc.Done()
		w.ended <- rc.Err()
	}()
	return plugin.ResultContinue
}
func (w *watcher) ProcessResponse(context.Context, *http.Response) *plugin.Result {
	return plugin.ResultContinue
}

// TestRequestContextEndsWithTheRequest: a goroutine waiting on
// req.Context().Done() ends when the request does, with Err
// context.Canceled, instead of leaking until the server shuts down; during
// the request Err is nil.
func TestRequestContextEndsWithTheRequest(t *testing.T) {
	const requests = 20
	w := &watcher{during: make(chan error, requests), ended: make(chan error, requests)}
	h, err := pluginhost.New([]plugin.Handler{w}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, h)
	for range requests {
		if got := r.get(t, "/"); got.status != 200 {
			t.Fatalf("status %d", got.status)
		}
	}
	for i := range requests {
		if err := <-w.during; err != nil {
			t.Errorf("request %d: Err %v during the request, want nil", i, err)
		}
		select {
		case err := <-w.ended:
			if err != context.Canceled {
				t.Errorf("request %d: Err %v once Done closed, want context.Canceled", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d goroutines waiting on req.Context().Done() still wait after their requests ended", requests-i, requests)
		}
	}
}
