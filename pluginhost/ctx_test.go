package pluginhost_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// idKey is the key of the value keeper attaches to the request context.
type idKey struct{}

// keeper hands the ctx of each call to a goroutine that keeps checking it
// until stop is closed: its values must stay those of its own request (a
// fasthttp user value, and in the response phase the value attached to
// the request in the request phase), its deadline that of its own call,
// and once the calls are over, Done must be closed and Err set.
type keeper struct {
	stop <-chan struct{}
	wg   *sync.WaitGroup
	errs chan<- string // full: the failure is dropped, enough are reported
}

func (k keeper) fail(format string, args ...any) {
	select {
	case k.errs <- fmt.Sprintf(format, args...):
	default:
	}
}

func (keeper) Name() string   { return "keeper" }
func (keeper) Priority() int  { return 0 }
func (keeper) Cleanup() error { return nil }

func (k keeper) ProcessRequest(ctx context.Context, req *http.Request) *plugin.Result {
	id := ctx.Value("id")
	*req = *req.WithContext(context.WithValue(req.Context(), idKey{}, id))
	k.keep(ctx, "request", "id", id)
	return plugin.ResultContinue
}

func (k keeper) ProcessResponse(ctx context.Context, resp *http.Response) *plugin.Result {
	id := resp.Request.Context().Value(idKey{})
	if id == nil {
		k.fail("response phase: the request phase's value is missing")
	}
	k.keep(ctx, "response", idKey{}, id)
	return plugin.ResultContinue
}

// keep checks ctx on another goroutine while later requests run.
func (k keeper) keep(ctx context.Context, phase string, key, want any) {
	deadline, _ := ctx.Deadline()
	k.wg.Go(func() {
		check := func() bool {
			if got := ctx.Value(key); got != want {
				k.fail("%s ctx of request %v: Value = %v", phase, want, got)
				return false
			}
			if d, _ := ctx.Deadline(); !d.Equal(deadline) {
				k.fail("%s ctx of request %v: Deadline moved from %v to %v", phase, want, deadline, d)
				return false
			}
			return true
		}
		for check() {
			select {
			case <-k.stop:
				select {
				case <-ctx.Done():
				default:
					k.fail("%s ctx of request %v: Done still open after the call", phase, want)
				}
				if ctx.Err() == nil {
					k.fail("%s ctx of request %v: Err nil after the call", phase, want)
				}
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
}

// A ctx kept past its call, as a plugin that hands it to a goroutine does,
// answers for its own request however many requests reuse the host's and
// the adapter's pools meanwhile. Run with -race: the old pooled context
// was rebound to later requests under the kept one.
func TestKeptContextAnswersForItsOwnRequest(t *testing.T) {
	stop := make(chan struct{})
	var kept sync.WaitGroup
	errs := make(chan string, 10)
	h, err := pluginhost.New([]plugin.Handler{keeper{stop, &kept, errs}}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(t.Context())
	var senders sync.WaitGroup
	for w := range 4 {
		senders.Go(func() {
			for i := range 100 {
				ctx := browserRequest()
				ctx.SetUserValue("id", w*1000+i)
				x, answered := h.Request(ctx)
				if answered {
					t.Error("keeper answered")
					return
				}
				x.Response(ctx)
				x.Release()
			}
		})
	}
	senders.Wait()
	close(stop)
	kept.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
