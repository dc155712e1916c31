package pluginhost

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// step is an in-process plugin for the chain tests: it records its name,
// sleeps (until its context ends at the latest, so that a phase past its
// budget returns when the watchdog gives up on it), then stops, panics or
// goes on.
type step struct {
	name  string
	sleep time.Duration
	do    string // "", "stop" or "panic"
	ran   *[]string
	mu    *sync.Mutex
	done  *<-chan struct{} // where to keep ctx.Done(), if not nil
}

func (s step) Name() string   { return s.name }
func (s step) Priority() int  { return 0 }
func (s step) Cleanup() error { return nil }
func (s step) ProcessResponse(context.Context, *http.Response) *plugin.Result {
	return plugin.ResultContinue
}
func (s step) ProcessRequest(ctx context.Context, _ *http.Request) *plugin.Result {
	s.mu.Lock()
	*s.ran = append(*s.ran, s.name)
	s.mu.Unlock()
	if s.done != nil {
		*s.done = ctx.Done()
	}
	select {
	case <-time.After(s.sleep):
	case <-ctx.Done():
	}
	switch s.do {
	case "stop":
		return plugin.NewResult(plugin.Stop, plugin.WithStatus(http.StatusTeapot))
	case "panic":
		panic(s.name + " panics")
	}
	return plugin.ResultModify
}

// One call runs the whole phase, but each plugin keeps its own budget, a
// Stop or panic ends the chain there, and an overrun is reported for the
// plugin that overran.
func TestChainRunsInOneCallWithABudgetPerPlugin(t *testing.T) {
	const budget = 150 * time.Millisecond
	cases := []struct {
		desc   string
		steps  []step // named a, b, c in chain order
		want   outcome
		ran    []string
		status int    // of the Stop result, 0 for none
		logged string // plugin named in the log
	}{
		{"all go on", []step{{}, {}, {}}, ranOK, []string{"a", "b", "c"}, 0, ""},
		{"each within its budget, together past one budget",
			[]step{{sleep: budget / 2}, {sleep: budget / 2}, {sleep: budget / 2}}, ranOK, []string{"a", "b", "c"}, 0, ""},
		{"stop ends the chain", []step{{}, {do: "stop"}, {}}, ranOK, []string{"a", "b"}, http.StatusTeapot, ""},
		{"panic ends the chain", []step{{}, {do: "panic"}, {}}, ranPanicked, []string{"a", "b"}, 0, "plugin=b"},
		{"second overruns", []step{{}, {sleep: 2 * time.Second}, {}}, ranTimedOut, []string{"a", "b"}, 0, "plugin=b"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			var (
				mu  sync.Mutex
				ran []string
				log strings.Builder
			)
			hs := make([]plugin.Handler, len(c.steps))
			for i, s := range c.steps {
				s.name, s.ran, s.mu = string(rune('a'+i)), &ran, &mu
				hs[i] = s
			}
			h, err := New(hs, nil, slog.New(slog.NewTextHandler(&syncWriter{w: &log}, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(t.Context())
			for _, p := range h.plugins {
				p.timeout = budget
			}
			h.watch = newWatchdog(tickFor(budget))
			r, _ := http.NewRequest("GET", "http://example/", nil)
			start := time.Now()
			res, o := h.phase(context.Background(), r, nil, rescue{}, nil)
			took := time.Since(start)
			status := 0
			if o == ranOK && res.Action() == plugin.Stop {
				status = res.StatusCode
			}
			res.Release()
			if o != c.want || status != c.status {
				t.Errorf("outcome %v, Stop status %d; want %v, %d", o, status, c.want, c.status)
			}
			if o == ranTimedOut && (took < budget || took > budget+500*time.Millisecond) {
				t.Errorf("timed out after %v, want about the %v budget", took, budget)
			}
			mu.Lock()
			if !slices.Equal(ran, c.ran) {
				t.Errorf("ran %v, want %v", ran, c.ran)
			}
			mu.Unlock()
			if c.logged != "" && !strings.Contains(log.String(), c.logged) {
				t.Errorf("log lacks %q:\n%s", c.logged, log.String())
			}
		})
	}
}

// A plugin that kept its context's Done channel sees it closed once it
// returned; the next plugin in the chain gets a context of its own.
func TestChainGivesEachPluginItsOwnContext(t *testing.T) {
	var (
		mu    sync.Mutex
		ran   []string
		doneA <-chan struct{}
		doneB <-chan struct{}
	)
	a := step{name: "a", ran: &ran, mu: &mu, done: &doneA}
	b := step{name: "b", ran: &ran, mu: &mu, done: &doneB}
	h, err := New([]plugin.Handler{a, b}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(t.Context())
	r, _ := http.NewRequest("GET", "http://example/", nil)
	if _, o := h.phase(context.Background(), r, nil, rescue{}, nil); o != ranOK {
		t.Fatalf("outcome %v", o)
	}
	if doneA == doneB {
		t.Fatal("a and b were handed the same Done channel")
	}
	for name, d := range map[string]<-chan struct{}{"a": doneA, "b": doneB} {
		select {
		case <-d:
		default:
			t.Errorf("%s's Done is still open after the phase", name)
		}
	}
}

// syncWriter serializes writes of the worker's and the test's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
