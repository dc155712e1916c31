package balancer

import (
	"bytes"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// origin is a real HTTP server on loopback whose /health answer can be
// switched between 200 and 503; it counts the checks it receives.
type origin struct {
	*httptest.Server
	failing atomic.Bool
	checks  atomic.Int64
	paths   atomic.Value // last path requested
}

func newOrigin(t *testing.T, tlsOn bool) *origin {
	o := &origin{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.paths.Store(r.URL.Path)
		if strings.HasSuffix(r.URL.Path, "/healthz") {
			o.checks.Add(1)
			if o.failing.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok"))
	})
	o.Server = httptest.NewUnstartedServer(h)
	// Failed handshakes are what some tests want; keep them out of the output.
	o.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsOn {
		o.StartTLS()
	} else {
		o.Start()
	}
	t.Cleanup(o.Close)
	return o
}

// fastCheck probes every 10ms; two results in a row change state.
var fastCheck = &configs.HealthCheck{
	Path:       "/healthz",
	Interval:   configs.Duration(10 * time.Millisecond),
	Timeout:    configs.Duration(500 * time.Millisecond),
	Thresholds: configs.Thresholds{Healthy: 2, Unhealthy: 2},
}

// eventually polls cond every 5ms for up to 3s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a log destination safe for the checks' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestActiveHTTPCheckTakesABackendOutAndBack(t *testing.T) {
	a, b := newOrigin(t, false), newOrigin(t, false)
	var logs syncBuffer
	p := mustPool(t, []configs.Backend{{URL: a.URL}, {URL: b.URL}},
		Options{HealthCheck: fastCheck, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ba := p.Backends()[0]

	eventually(t, "the first checks ran", func() bool { return a.checks.Load() >= 2 })
	if !ba.Healthy() {
		t.Fatal("healthy origin marked down")
	}
	from := a.checks.Load()
	a.failing.Store(true)
	eventually(t, "a is down", func() bool { return !ba.Healthy() })
	if n := a.checks.Load() - from; n < 2 {
		t.Errorf("down after %d failed checks, want at least 2", n)
	}
	for range 20 {
		got, err := p.Pick(nil)
		if err != nil || got == ba {
			t.Fatalf("pick while a is down: %v, %v", got, err)
		}
		p.Done(got, Success, time.Millisecond)
	}
	a.failing.Store(false)
	eventually(t, "a is back", ba.Healthy)
	seen := map[*Backend]bool{}
	for range 4 {
		got, _ := p.Pick(nil)
		seen[got] = true
		p.Done(got, Success, time.Millisecond)
	}
	if !seen[ba] {
		t.Error("a back in rotation but never picked")
	}
	if out := logs.String(); !strings.Contains(out, "backend down") || !strings.Contains(out, "backend up") || !strings.Contains(out, a.URL) {
		t.Errorf("state changes not logged with the backend:\n%s", out)
	}
}

func TestActiveTCPCheckFollowsAListenerThatClosesAndReopens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go serve(ln)
	tcp := *fastCheck
	tcp.Type = "tcp"
	p := mustPool(t, []configs.Backend{{URL: "http://" + ln.Addr().String()}}, Options{HealthCheck: &tcp})
	b := p.Backends()[0]

	ln.Close()
	eventually(t, "the closed listener is down", func() bool { return !b.Healthy() })
	start := time.Now()
	if _, err := p.Pick(nil); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("only backend down: %v, want ErrNoBackend", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("ErrNoBackend took %v", d)
	}
	ln2, err := net.Listen("tcp", b.Addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", b.Addr, err)
	}
	defer ln2.Close()
	go serve(ln2)
	eventually(t, "the reopened listener is up", b.Healthy)
}

func TestActiveHTTPSCheckHonorsSkipTLSVerify(t *testing.T) {
	for _, skip := range []bool{true, false} {
		o := newOrigin(t, true)
		hc := *fastCheck
		hc.SkipTLSVerify = skip
		p := mustPool(t, []configs.Backend{{URL: o.URL}}, Options{HealthCheck: &hc})
		if skip {
			eventually(t, "three checks passed", func() bool { return o.checks.Load() >= 3 })
			if !p.Backends()[0].Healthy() {
				t.Error("skip_tls_verify: backend with a self-signed certificate marked down")
			}
		} else {
			eventually(t, "the unverifiable backend is down", func() bool { return !p.Backends()[0].Healthy() })
		}
	}
}

func TestBackendHealthCheckOverridesThePoolDefault(t *testing.T) {
	a := newOrigin(t, false)
	a.failing.Store(true)
	// The backend's own tcp check passes though the pool's http check would fail.
	tcp := *fastCheck
	tcp.Type = "tcp"
	p := mustPool(t, []configs.Backend{{URL: a.URL, HealthCheck: &tcp}}, Options{HealthCheck: fastCheck})
	time.Sleep(100 * time.Millisecond)
	if !p.Backends()[0].Healthy() {
		t.Error("backend check overridden by the pool's")
	}
	if n := a.checks.Load(); n != 0 {
		t.Errorf("pool's http check ran %d times", n)
	}
}

func TestNoHealthCheckConfiguredRunsNoChecks(t *testing.T) {
	a := newOrigin(t, false)
	p := mustPool(t, []configs.Backend{{URL: a.URL}}, Options{})
	time.Sleep(30 * time.Millisecond)
	if n := a.checks.Load(); n != 0 {
		t.Errorf("%d checks ran without a health_check block", n)
	}
	p.Close()
}

// backoff reads b's current back-off.
func backoff(p *Pool, b *Backend) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return b.backoff
}

func TestPassiveEjectionBacksOffAndRecoversThroughOneTrial(t *testing.T) {
	var logs syncBuffer
	p := mustPool(t, testBackends(1, 1), Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Passive: configs.PassiveHealth{FailureThreshold: 3,
			Backoff: configs.Duration(30 * time.Millisecond), MaxBackoff: configs.Duration(100 * time.Millisecond)},
	})
	bad, good := p.Backends()[0], p.Backends()[1]

	// Two failures and a success do not eject; three in a row do.
	for _, o := range []Outcome{Failed, ConnectFailed, Success, Failed, Failed} {
		hold(t, p, bad)
		p.Done(bad, o, time.Millisecond)
	}
	if !bad.Healthy() {
		t.Fatal("ejected before 3 consecutive failures")
	}
	hold(t, p, bad)
	p.Done(bad, Failed, time.Millisecond)
	if bad.Healthy() {
		t.Fatal("not ejected after 3 consecutive failures")
	}

	// Each failed trial doubles the back-off, up to the maximum.
	for _, want := range []time.Duration{30, 60, 100, 100} {
		if got := backoff(p, bad); got != want*time.Millisecond {
			t.Fatalf("back-off %v, want %v", got, want*time.Millisecond)
		}
		ejected := time.Now()
		trial := pickUntil(t, p, bad)
		if d := time.Since(ejected); d < want*time.Millisecond*8/10 {
			t.Errorf("trial after %v, before the %vms back-off", d, want)
		}
		assertOnlyTrial(t, p, good)
		p.Done(trial, Failed, time.Millisecond)
	}

	trial := pickUntil(t, p, bad)
	p.Done(trial, Success, time.Millisecond)
	if !bad.Healthy() || backoff(p, bad) != 0 {
		t.Fatal("successful trial did not restore the backend")
	}
	// Back in full rotation: several requests at once may go to it.
	n := 0
	var held []*Backend
	for range 10 {
		b, _ := p.Pick(nil)
		held = append(held, b)
		if b == bad {
			n++
		}
	}
	if n < 2 {
		t.Errorf("recovered backend got %d of 10 concurrent requests", n)
	}
	for _, b := range held {
		p.Done(b, Success, time.Millisecond)
	}
	out := logs.String()
	for _, msg := range []string{"backend ejected", "backend on trial", "backend recovered"} {
		if !strings.Contains(out, msg) {
			t.Errorf("no %q in log:\n%s", msg, out)
		}
	}
}

// pickUntil picks (and completes on other backends) until want is picked:
// its trial request, once its back-off has passed.
func pickUntil(t *testing.T, p *Pool, want *Backend) *Backend {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		b, err := p.Pick(nil)
		if err != nil {
			t.Fatal(err)
		}
		if b == want {
			return b
		}
		p.Done(b, Success, time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	t.Fatal("trial request never came")
	return nil
}

// assertOnlyTrial checks that while a trial is in flight every other
// request goes to the other backend.
func assertOnlyTrial(t *testing.T, p *Pool, other *Backend) {
	t.Helper()
	for range 10 {
		b, err := p.Pick(nil)
		if err != nil {
			t.Fatal(err)
		}
		if b != other {
			t.Fatal("a second request reached a backend on trial")
		}
		p.Done(b, Success, time.Millisecond)
	}
}

func TestPassiveCounts5xxOnlyWhenConfigured(t *testing.T) {
	for _, count := range []bool{false, true} {
		p := mustPool(t, testBackends(1, 1), Options{Passive: configs.PassiveHealth{FailureThreshold: 2, Count5xx: count}})
		b := p.Backends()[0]
		for range 2 {
			hold(t, p, b)
			p.Done(b, ServerError, time.Millisecond)
		}
		if ejected := !b.Healthy(); ejected != count {
			t.Errorf("count_5xx %v: ejected %v", count, ejected)
		}
	}
}

func TestAllBackendsEjectedAnswersErrNoBackendAtOnce(t *testing.T) {
	for _, policy := range configs.Policies {
		p := mustPool(t, testBackends(1, 2), Options{Policy: policy, QueueTimeout: time.Second,
			Passive: configs.PassiveHealth{FailureThreshold: 1, Backoff: configs.Duration(time.Minute)}})
		for _, b := range p.Backends() {
			hold(t, p, b)
			p.Done(b, ConnectFailed, 0)
		}
		start := time.Now()
		if _, err := p.Pick(nil); !errors.Is(err, ErrNoBackend) {
			t.Errorf("%s: %v, want ErrNoBackend", policy, err)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("%s: ErrNoBackend after %v", policy, d)
		}
	}
}

func TestActiveCheckPathFollowsTheBackendPath(t *testing.T) {
	o := newOrigin(t, false)
	mustPool(t, []configs.Backend{{URL: o.URL + "/app/"}}, Options{HealthCheck: fastCheck})
	eventually(t, "a check ran", func() bool { return o.checks.Load() > 0 })
	if got := o.paths.Load(); got != "/app/healthz" {
		t.Errorf("checked %v, want /app/healthz", got)
	}
}

// hold admits one request on b, as a Pick that chose b would.
func hold(t *testing.T, p *Pool, b *Backend) {
	t.Helper()
	if !p.set.Load().take(b, &noRequest) {
		t.Fatalf("%s refused a request", b.Addr)
	}
}

// A reload builds new pools; a backend the old pool's check had taken
// out must not take traffic until its check passes again.
func TestPreviousPoolKeepsCheckedDownBackendsOut(t *testing.T) {
	a, b := newOrigin(t, false), newOrigin(t, false)
	backends := []configs.Backend{{URL: a.URL}, {URL: b.URL}}
	a.failing.Store(true)
	old := mustPool(t, backends, Options{HealthCheck: fastCheck})
	eventually(t, "a is down", func() bool { return !old.Backends()[0].Healthy() })

	// Checks an hour apart: only the one at start runs during the test,
	// and one failure is below the threshold of 2.
	slow := *fastCheck
	slow.Interval = configs.Duration(time.Hour)
	// The reloaded list has a new backend first: state follows the URL,
	// not the position.
	c := newOrigin(t, false)
	reloaded := []configs.Backend{{URL: c.URL}, {URL: b.URL}, {URL: a.URL}}
	p := mustPool(t, reloaded, Options{HealthCheck: &slow, Previous: old})
	pa := p.Backends()[2]
	if pa.Healthy() || !p.Backends()[0].Healthy() || !p.Backends()[1].Healthy() {
		t.Fatalf("after reload: a healthy %v, c %v, b %v; want only a out",
			pa.Healthy(), p.Backends()[0].Healthy(), p.Backends()[1].Healthy())
	}
	for range 20 {
		got, err := p.Pick(nil)
		if err != nil || got == pa {
			t.Fatalf("pick after reload: %v, %v", got, err)
		}
		p.Done(got, Success, time.Millisecond)
	}

	// Without an active check nothing would bring it back: it starts in
	// rotation, as any backend without one does.
	unchecked := mustPool(t, backends, Options{Previous: old})
	if !unchecked.Backends()[0].Healthy() {
		t.Error("a backend without an active check inherited down and can never come back")
	}

	a.failing.Store(false)
	back := mustPool(t, backends, Options{HealthCheck: fastCheck, Previous: old})
	eventually(t, "a is back after its checks pass", back.Backends()[0].Healthy)
}
