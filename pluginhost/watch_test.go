package pluginhost

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

func TestWatchdogTickIsAFractionOfTheShortestBudget(t *testing.T) {
	for _, c := range []struct {
		budget, want time.Duration
	}{
		{5 * time.Second, 20 * time.Millisecond},
		{300 * time.Millisecond, 15 * time.Millisecond},
		{100 * time.Millisecond, 5 * time.Millisecond},
		{time.Millisecond, time.Millisecond},
	} {
		if got := tickFor(c.budget); got != c.want {
			t.Errorf("tickFor(%v) = %v, want %v", c.budget, got, c.want)
		}
	}
}

// sleeper sleeps for the duration in its request's X-Sleep header, or
// until its context ends: when the watchdog gives up on it.
type sleeper struct{}

func (sleeper) Name() string   { return "sleeper" }
func (sleeper) Priority() int  { return 0 }
func (sleeper) Cleanup() error { return nil }
func (sleeper) ProcessRequest(ctx context.Context, r *http.Request) *plugin.Result {
	d, _ := time.ParseDuration(r.Header.Get("X-Sleep"))
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	return plugin.ResultContinue
}
func (sleeper) ProcessResponse(context.Context, *http.Response) *plugin.Result {
	return plugin.ResultContinue
}

// The watchdog runs only while calls come in; a call after it went idle
// starts it again, so the budget is still enforced.
func TestWatchdogStopsWhenIdleAndStillEnforcesTheBudgetAfter(t *testing.T) {
	h, err := New([]plugin.Handler{sleeper{}}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(t.Context())
	const budget = 50 * time.Millisecond
	p := h.plugins[0]
	p.timeout = budget
	h.watch = newWatchdog(tickFor(budget))
	h.watch.idle = 4 * tickFor(budget)
	call := func(sleep string) (outcome, time.Duration) {
		r, _ := http.NewRequest("GET", "http://example/", nil)
		r.Header.Set("X-Sleep", sleep)
		start := time.Now()
		res, o := h.phase(context.Background(), r, nil, rescue{}, nil)
		if o == ranOK {
			res.Release()
		}
		return o, time.Since(start)
	}
	watching := func() bool {
		h.watch.mu.Lock()
		defer h.watch.mu.Unlock()
		return h.watch.watching
	}

	if o, _ := call("0s"); o != ranOK || !watching() {
		t.Fatalf("fast call: outcome %v, watchdog running %v; want ranOK and running", o, watching())
	}
	for deadline := time.Now().Add(5 * time.Second); watching(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("watchdog still running 5s after the last call")
		}
	}
	o, took := call("2s")
	if o != ranTimedOut {
		t.Fatalf("slow call after the watchdog went idle: outcome %v, want ranTimedOut", o)
	}
	if took < budget || took > budget+500*time.Millisecond {
		t.Errorf("timed out after %v, want about the %v budget", took, budget)
	}
}
