package pluginhost_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// tagger adds X-Tag-NAME to every response, and on /slow ignores its
// context for sleep first.
type tagger struct {
	name  string
	sleep time.Duration
}

func (g tagger) Name() string   { return g.name }
func (g tagger) Priority() int  { return 0 }
func (g tagger) Cleanup() error { return nil }
func (g tagger) ProcessRequest(_ context.Context, r *http.Request) *plugin.Result {
	if r.URL.Path == "/slow" {
		time.Sleep(g.sleep)
	}
	return plugin.ResultContinue
}
func (g tagger) ProcessResponse(_ context.Context, resp *http.Response) *plugin.Result {
	resp.Header.Set("X-Tag-"+g.name, "yes")
	return plugin.ResultContinue
}

func reloadedPlugins(settings map[string]configs.PluginSettings) *configs.Config {
	return &configs.Config{File: "spillway.yaml", Plugins: settings,
		Positions: map[string]int{"plugins.a.config": 12, "plugins.c.enabled": 20}}
}

func off() *bool { f := false; return &f }

// A reload may turn plugins off and on again and change their budgets;
// nothing changes before apply, and what would need Configure again is
// refused, naming the key and its line.
func TestReconfigureSwitchesPluginsAndBudgets(t *testing.T) {
	start := map[string]configs.PluginSettings{"c": {Enabled: off()}}
	h, err := pluginhost.New([]plugin.Handler{tagger{name: "a", sleep: 300 * time.Millisecond}, tagger{name: "b"}, tagger{name: "c"}},
		start, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	r := startRig(t, h)
	tags := func(path string) (string, int) {
		t.Helper()
		got := r.do(t, "GET", path, nil)
		var on []string
		for _, n := range []string{"a", "b", "c"} {
			if got.header.Get("X-Tag-"+n) == "yes" {
				on = append(on, n)
			}
		}
		return strings.Join(on, ","), got.status
	}
	if got, _ := tags("/"); got != "a,b" {
		t.Fatalf("at start the tags are %q, want a,b", got)
	}

	// An empty config block is no block: both give Configure "{}".
	apply, restart := h.Reconfigure(reloadedPlugins(map[string]configs.PluginSettings{
		"a": {Enabled: off(), Config: map[string]any{}}, "c": {Enabled: off()}}))
	if len(restart) > 0 {
		t.Fatalf("disabling a refused: %v", restart)
	}
	if got, _ := tags("/"); got != "a,b" {
		t.Fatalf("before apply the tags are %q, want a,b still", got)
	}
	apply()
	if got, _ := tags("/"); got != "b" {
		t.Fatalf("a disabled: tags %q, want b", got)
	}

	// Back on, with a budget its slow path overruns.
	apply, restart = h.Reconfigure(reloadedPlugins(map[string]configs.PluginSettings{
		"a": {Timeout: configs.Duration(100 * time.Millisecond)}, "c": {Enabled: off()}}))
	if len(restart) > 0 {
		t.Fatalf("enabling a again refused: %v", restart)
	}
	apply()
	if got, _ := tags("/"); got != "a,b" {
		t.Fatalf("a enabled again: tags %q, want a,b", got)
	}
	begin := time.Now()
	if _, status := tags("/slow"); status != http.StatusGatewayTimeout || time.Since(begin) > 250*time.Millisecond {
		t.Fatalf("a with a 100ms budget sleeping 300ms: status %d after %v, want 504 in about 100ms", status, time.Since(begin))
	}

	// A new config block, or c (never configured) enabled: refused, and
	// the running settings stay.
	_, restart = h.Reconfigure(reloadedPlugins(map[string]configs.PluginSettings{
		"a": {Config: map[string]any{"k": 1}}, "c": {}}))
	var msgs []string
	for _, p := range restart {
		msgs = append(msgs, p.String())
	}
	all := strings.Join(msgs, "\n")
	if len(restart) != 2 || !strings.Contains(all, "spillway.yaml:12: plugins.a.config: changed") ||
		!strings.Contains(all, "spillway.yaml:20: plugins.c.enabled: the plugin was disabled at start") {
		t.Fatalf("refusals:\n%s\nwant plugins.a.config and plugins.c.enabled with their lines", all)
	}
	if got, _ := tags("/"); got != "a,b" {
		t.Fatalf("after a refused reconfigure: tags %q, want a,b", got)
	}
}

// Plugins switched on and off while requests flow (run with -race): every
// request is answered 200, with a's tag or without it.
func TestReconfigureUnderLoad(t *testing.T) {
	h, err := pluginhost.New([]plugin.Handler{tagger{name: "a"}, tagger{name: "b"}}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	r := startRig(t, h)
	stop := make(chan struct{})
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				got, err := r.try("GET", "/", nil)
				if err == nil && (got.status != 200 || got.header.Get("X-Tag-b") != "yes") {
					err = fmt.Errorf("status %d, b's tag %q", got.status, got.header.Get("X-Tag-b"))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 30 {
		settings := map[string]configs.PluginSettings{}
		if i%2 == 0 {
			settings["a"] = configs.PluginSettings{Enabled: off()}
		}
		apply, restart := h.Reconfigure(reloadedPlugins(settings))
		if len(restart) > 0 {
			t.Fatal(restart)
		}
		apply()
		time.Sleep(3 * time.Millisecond)
	}
	close(stop)
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
