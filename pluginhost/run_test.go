package pluginhost_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPluginsRunInPriorityOrderIncludingThirdPartyModule(t *testing.T) {
	t.Parallel()
	// thirdparty (priority 10) is built in its own module; probe is 20,
	// addheader 100. File names sort the other way round on purpose.
	h := load(t, pluginDir(t, "addheader", "probe", "thirdparty"), nil, nil)
	if h.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", h.Len())
	}
	got := startRig(t, h).get(t, "/order")
	if got.status != 200 || got.body != "origin\n" {
		t.Fatalf("got %d %q, want 200 from the origin", got.status, got.body)
	}
	if v := got.header.Get("X-Seen-Order"); v != "thirdparty,probe" {
		t.Errorf("origin saw X-Order %q, want thirdparty,probe", v)
	}
	if v := got.header.Values("X-Order"); strings.Join(v, ",") != "thirdparty,probe" {
		t.Errorf("client got X-Order %q, want thirdparty,probe", v)
	}
	if got.header.Get("X-Seen-Addheader") != "addheader" || got.header.Get("X-Spillway-Plugin") != "addheader" {
		t.Errorf("addheader missing: request %q, response %q",
			got.header.Get("X-Seen-Addheader"), got.header.Get("X-Spillway-Plugin"))
	}
}

func TestStopInRequestPhaseAnswersWithoutTheBackend(t *testing.T) {
	t.Parallel()
	body := `{"denied":true}`
	cases := []struct {
		desc       string
		stop       map[string]any
		wantStatus int
		wantHeader string
		wantBody   string
	}{
		{"status headers and body", map[string]any{"stop": true, "status": 418, "headers": map[string]string{"X-Why": "teapot"}, "body": body}, 418, "teapot", body},
		{"no status answers 403", map[string]any{"stop": true, "headers": map[string]string{"X-Why": "default"}}, 403, "default", ""},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			h := load(t, pluginDir(t, "probe"), settings("probe", 0, map[string]any{"request": c.stop}), nil)
			r := startRig(t, h)
			got := r.get(t, "/stop")
			if got.status != c.wantStatus || got.header.Get("X-Why") != c.wantHeader || got.body != c.wantBody {
				t.Errorf("got %d X-Why=%q body %q; want %d %q %q",
					got.status, got.header.Get("X-Why"), got.body, c.wantStatus, c.wantHeader, c.wantBody)
			}
			if n := r.hits.Load(); n != 0 {
				t.Errorf("origin served %d requests; a request-phase Stop must skip it", n)
			}
		})
	}
}

func TestStopInResponsePhaseReplacesTheResponse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		desc       string
		stop       map[string]any
		wantStatus int
		wantBody   string
	}{
		{"status headers and body", map[string]any{"stop": true, "status": 299, "headers": map[string]string{"X-Why": "replaced"}, "body": "replaced\n"}, 299, "replaced\n"},
		{"headers only keeps status and body", map[string]any{"stop": true, "headers": map[string]string{"X-Why": "replaced"}}, 200, "origin\n"},
		{"empty body replaces the body", map[string]any{"stop": true, "headers": map[string]string{"X-Why": "replaced"}, "body": ""}, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			h := load(t, pluginDir(t, "probe"), settings("probe", 0, map[string]any{"response": c.stop}), nil)
			got := startRig(t, h).get(t, "/respstop")
			if got.status != c.wantStatus || got.body != c.wantBody || got.header.Get("X-Why") != "replaced" {
				t.Errorf("got %d X-Why=%q body %q; want %d replaced %q",
					got.status, got.header.Get("X-Why"), got.body, c.wantStatus, c.wantBody)
			}
			if got.header.Get("X-Order") != "probe" {
				t.Errorf("changes made before the Stop were lost: X-Order %q", got.header.Get("X-Order"))
			}
		})
	}
}

func TestPluginDisabledServiceRunsNoPlugins(t *testing.T) {
	t.Parallel()
	stop := map[string]any{"request": map[string]any{"stop": true}}
	h := load(t, pluginDir(t, "probe"), settings("probe", 0, stop), nil)
	got := startRig(t, h, true).get(t, "/disabled")
	if got.status != 200 || got.body != "origin\n" || got.header.Get("X-Seen-Order") != "" {
		t.Errorf("got %d %q X-Seen-Order=%q; want the origin's answer untouched by plugins",
			got.status, got.body, got.header.Get("X-Seen-Order"))
	}
}

func TestContextAndDeadlineReachThePlugin(t *testing.T) {
	t.Parallel()
	h := load(t, pluginDir(t, "probe"), settings("probe", 2*time.Second, nil), nil)
	got := startRig(t, h).get(t, "/carried")
	if v := got.header.Get("X-Probe-Ctx"); v != "from-request-/carried" {
		t.Errorf("response phase read %q from resp.Request.Context(), want the request phase's value", v)
	}
	ms, err := strconv.Atoi(got.header.Get("X-Seen-Budget-Ms"))
	if err != nil || ms <= 1000 || ms > 2000 {
		t.Errorf("ctx deadline was %q ms away, want (1000, 2000] for a 2s timeout", got.header.Get("X-Seen-Budget-Ms"))
	}
}

func TestPanickingPluginAnswers500AndTheProxyKeepsServing(t *testing.T) {
	t.Parallel()
	for _, phase := range []string{"request", "response"} {
		t.Run(phase, func(t *testing.T) {
			log, logs := newLog()
			cfg := map[string]any{phase: map[string]any{"panic": true, "only": "/boom"}}
			r := startRig(t, load(t, pluginDir(t, "probe"), settings("probe", 0, cfg), log))
			for i := 0; i < 3; i++ {
				if got := r.get(t, "/boom"); got.status != 500 {
					t.Fatalf("panic in %s phase: got %d, want 500", phase, got.status)
				}
				if got := r.get(t, "/fine"); got.status != 200 || got.body != "origin\n" {
					t.Fatalf("after a panic: got %d %q, want 200 from the origin", got.status, got.body)
				}
			}
			l := logs.String()
			for _, want := range []string{"plugin=probe", "probe: asked to panic", "goroutine", "probe.run("} {
				if !strings.Contains(l, want) {
					t.Errorf("log lacks %q:\n%s", want, l)
				}
			}
		})
	}
}

func TestPluginPastItsBudgetAnswers504InAboutTheBudget(t *testing.T) {
	t.Parallel()
	const budget = 300 * time.Millisecond
	for _, phase := range []string{"request", "response"} {
		t.Run(phase, func(t *testing.T) {
			cfg := map[string]any{phase: map[string]any{"sleep": "3s", "only": "/slow"}}
			r := startRig(t, load(t, pluginDir(t, "probe"), settings("probe", budget, cfg), nil))
			got := r.get(t, "/slow")
			if got.status != 504 {
				t.Fatalf("got %d, want 504", got.status)
			}
			if got.took < budget || got.took > budget+time.Second {
				t.Errorf("504 after %v, want about the %v budget", got.took, budget)
			}
			if got := r.get(t, "/fast"); got.status != 200 || got.took > time.Second {
				t.Errorf("next request: %d after %v, want 200 at once", got.status, got.took)
			}
		})
	}
}

func TestConcurrentRequestsKeepTheirOwnState(t *testing.T) {
	t.Parallel()
	// probe attaches a value derived from the path to the request's context
	// and reads it back in the response phase: pooled exchanges, calls and
	// contexts must never mix two requests up.
	r := startRig(t, load(t, pluginDir(t, "probe", "addheader"), nil, nil))
	const workers, each = 8, 25
	errs := make(chan string, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				path := fmt.Sprintf("/c/%d/%d", w, i)
				got, err := r.try("GET", path, nil)
				if err != nil {
					errs <- err.Error()
					continue
				}
				if got.status != 200 || got.header.Get("X-Probe-Ctx") != "from-request-"+path || got.header.Get("X-Spillway-Plugin") != "addheader" {
					errs <- fmt.Sprintf("%s: %d X-Probe-Ctx=%q", path, got.status, got.header.Get("X-Probe-Ctx"))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
