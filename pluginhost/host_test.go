package pluginhost_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// named is an in-process plugin that appends its name to X-Order, records
// Configure calls and, when wait is set, waits on ctx.Done.
type named struct {
	name string
	prio int

	mu         sync.Mutex
	configured []string
	waitDone   bool
	ctxErr     chan error
	cleanup    func() error
}

func (n *named) Name() string  { return n.name }
func (n *named) Priority() int { return n.prio }
func (n *named) Cleanup() error {
	if n.cleanup != nil {
		return n.cleanup()
	}
	return nil
}

func (n *named) Configure(b []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.configured = append(n.configured, string(b))
	return nil
}

func (n *named) ProcessRequest(ctx context.Context, req *http.Request) *plugin.Result {
	req.Header.Add("X-Order", n.name)
	if n.waitDone {
		<-ctx.Done()
		n.ctxErr <- ctx.Err()
	}
	return plugin.ResultContinue
}

func (n *named) ProcessResponse(_ context.Context, resp *http.Response) *plugin.Result {
	return nil // a nil Result means Continue
}

// noop is an in-process plugin that touches nothing.
type noop struct{}

func (noop) Name() string   { return "noop" }
func (noop) Priority() int  { return 0 }
func (noop) Cleanup() error { return nil }
func (noop) ProcessRequest(context.Context, *http.Request) *plugin.Result {
	return plugin.ResultContinue
}
func (noop) ProcessResponse(context.Context, *http.Response) *plugin.Result {
	return plugin.ResultModify
}

func TestNewOrdersByPriorityThenName(t *testing.T) {
	t.Parallel()
	h, err := pluginhost.New([]plugin.Handler{
		&named{name: "b", prio: 10}, &named{name: "a", prio: 10}, &named{name: "c", prio: 5}, &named{name: "z", prio: -1},
	}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if got := startRig(t, h).get(t, "/").header.Get("X-Seen-Order"); got != "z,c,a,b" {
		t.Errorf("origin saw X-Order %q, want z,c,a,b", got)
	}
}

func TestNewRejectsTwoPluginsWithOneName(t *testing.T) {
	t.Parallel()
	_, err := pluginhost.New([]plugin.Handler{&named{name: "dup", prio: 1}, &named{name: "dup", prio: 2}}, nil, quiet)
	if err == nil || !strings.Contains(err.Error(), `two plugins are named "dup"`) {
		t.Fatalf("New error = %v, want one about the duplicate name", err)
	}
}

// Sorting by priority separates x(1) and x(3) with y(2) between them; the
// duplicate must be found anyway.
func TestNewRejectsADuplicateNameAtAnotherPriority(t *testing.T) {
	t.Parallel()
	_, err := pluginhost.New([]plugin.Handler{
		&named{name: "x", prio: 1}, &named{name: "y", prio: 2}, &named{name: "x", prio: 3},
	}, nil, quiet)
	if err == nil || !strings.Contains(err.Error(), `two plugins are named "x"`) {
		t.Fatalf("New error = %v, want one about the duplicate name x", err)
	}
}

func TestSettingsDisableAndConfigurePlugins(t *testing.T) {
	t.Parallel()
	off := false
	on, off2, bare := &named{name: "on"}, &named{name: "off"}, &named{name: "bare"}
	h, err := pluginhost.New([]plugin.Handler{on, off2, bare}, map[string]configs.PluginSettings{
		"on":  {Config: map[string]any{"limit": 3, "names": []any{"x"}}},
		"off": {Enabled: &off},
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if h.Len() != 2 {
		t.Errorf("Len() = %d, want 2 (off is disabled)", h.Len())
	}
	for _, c := range []struct {
		p    *named
		want []string
	}{{on, []string{`{"limit":3,"names":["x"]}`}}, {bare, []string{"{}"}}, {off2, nil}} {
		if strings.Join(c.p.configured, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: Configure got %q, want %q", c.p.name, c.p.configured, c.want)
		}
	}
}

func TestPluginContextIsDoneAtItsDeadline(t *testing.T) {
	t.Parallel()
	p := &named{name: "waiter", waitDone: true, ctxErr: make(chan error, 1)}
	h, err := pluginhost.New([]plugin.Handler{p}, map[string]configs.PluginSettings{
		"waiter": {Timeout: configs.Duration(200 * time.Millisecond)},
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if got := startRig(t, h).get(t, "/"); got.status != 504 {
		t.Errorf("got %d, want 504", got.status)
	}
	select {
	case err := <-p.ctxErr:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ctx.Err() = %v after Done, want DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ctx.Done() was not closed at the deadline")
	}
}

func TestCloseIsBoundedByItsContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	p := &named{name: "slow", cleanup: func() error { <-release; return nil }}
	h, err := pluginhost.New([]plugin.Handler{p}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = h.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("Close = %v after %v; want DeadlineExceeded after about 100ms", err, time.Since(start))
	}
}

func TestCleanupErrorsAreReturned(t *testing.T) {
	t.Parallel()
	p := &named{name: "failing", cleanup: func() error { return errors.New("disk gone") }}
	h, err := pluginhost.New([]plugin.Handler{p}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err == nil || !strings.Contains(err.Error(), `plugin "failing": disk gone`) {
		t.Errorf("Close = %v, want the plugin's error", err)
	}
}
