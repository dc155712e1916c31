package balancer

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// inRotation reports whether b is in the pool's current snapshot, the set
// every Pick chooses from.
func inRotation(p *Pool, b *Backend) bool {
	for _, u := range p.set.Load().up {
		if u == b {
			return true
		}
	}
	return false
}

// scriptedOrigin is a loopback origin whose /health probes the test answers
// one by one: each probe is announced on arrived and then waits for its
// status on verdict. A probe cannot arrive before the check loop has acted
// on the previous one, so between two arrivals the test sees exactly the
// state the earlier verdicts produced.
type scriptedOrigin struct {
	*httptest.Server
	arrived chan struct{}
	verdict chan int
}

func newScriptedOrigin(t *testing.T) *scriptedOrigin {
	o := &scriptedOrigin{arrived: make(chan struct{}), verdict: make(chan int)}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			w.Write([]byte("ok"))
			return
		}
		select {
		case o.arrived <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		select {
		case code := <-o.verdict:
			w.WriteHeader(code)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(o.Close)
	return o
}

// next waits for the next probe to arrive.
func (o *scriptedOrigin) next(t *testing.T) {
	t.Helper()
	select {
	case <-o.arrived:
	case <-time.After(3 * time.Second):
		t.Fatal("no health probe arrived within 3s")
	}
}

// TestActiveCheckThresholdsCountConsecutiveResults: a backend stays in
// rotation through unhealthy-1 consecutive failed probes (a pass in between
// starts the count again), leaves it on exactly the unhealthy-th, and comes
// back on exactly the healthy-th consecutive pass (a failure in between
// starts that count again).
func TestActiveCheckThresholdsCountConsecutiveResults(t *testing.T) {
	o := newScriptedOrigin(t)
	hc := &configs.HealthCheck{
		Path:       "/health",
		Interval:   configs.Duration(time.Millisecond),
		Timeout:    configs.Duration(5 * time.Second), // the test answers every probe
		Thresholds: configs.Thresholds{Healthy: 2, Unhealthy: 3},
	}
	bs := append([]configs.Backend{{URL: o.URL, HealthCheck: hc}}, testBackends(1)...)
	p := mustPool(t, bs, Options{})
	b := p.Backends()[0]

	const pass, fail = http.StatusOK, http.StatusServiceUnavailable
	steps := []struct {
		answer int
		wantUp bool // after this answer
	}{
		{fail, true}, {fail, true}, {pass, true}, // a pass resets the failures
		{fail, true}, {fail, true}, {fail, false}, // the third in a row takes it out
		{pass, false}, {fail, false}, // a failure resets the passes
		{pass, false}, {pass, true}, // the second in a row brings it back
		{fail, true},
	}
	o.next(t)
	if !b.Healthy() || !inRotation(p, b) {
		t.Fatal("backend out of rotation before any probe answered")
	}
	for i, st := range steps {
		o.verdict <- st.answer
		o.next(t) // the check loop has acted on answer i
		if up := b.Healthy() && inRotation(p, b); up != st.wantUp {
			t.Fatalf("after answer %d (%d): in rotation %v, want %v", i+1, st.answer, up, st.wantUp)
		}
		picked := false
		for range 2 { // round-robin over two backends
			got, err := p.Pick(nil)
			if err != nil {
				t.Fatal(err)
			}
			picked = picked || got == b
			p.Done(got, Success, time.Millisecond)
		}
		if picked != st.wantUp {
			t.Fatalf("after answer %d (%d): picked %v, want %v", i+1, st.answer, picked, st.wantUp)
		}
	}
}

// TestActiveCheckSlowerThanTimeoutIsAFailure: a probe whose answer takes
// longer than the check's timeout is cut at the timeout and counts as a
// failure, so the backend goes down after `unhealthy` such probes, long
// before one answer would have come; a probe answered within the timeout
// passes.
func TestActiveCheckSlowerThanTimeoutIsAFailure(t *testing.T) {
	tests := []struct {
		desc     string
		delay    time.Duration // before /health answers 200
		timeout  time.Duration
		wantDown bool
	}{
		{"answer after 5s with a 50ms timeout", 5 * time.Second, 50 * time.Millisecond, true},
		{"answer after 5ms with a 500ms timeout", 5 * time.Millisecond, 500 * time.Millisecond, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var probes, cut atomic.Int64
			var longestCut atomic.Int64 // nanoseconds a cut probe lasted
			o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				probes.Add(1)
				start := time.Now()
				select {
				case <-time.After(tc.delay):
				case <-r.Context().Done(): // the checker gave up and closed the connection
					cut.Add(1)
					if d := int64(time.Since(start)); d > longestCut.Load() {
						longestCut.Store(d)
					}
				}
			}))
			t.Cleanup(o.Close)
			hc := &configs.HealthCheck{
				Path:       "/health",
				Interval:   configs.Duration(10 * time.Millisecond),
				Timeout:    configs.Duration(tc.timeout),
				Thresholds: configs.Thresholds{Healthy: 1, Unhealthy: 2},
			}
			start := time.Now()
			p := mustPool(t, []configs.Backend{{URL: o.URL}}, Options{HealthCheck: hc})
			b := p.Backends()[0]
			if !tc.wantDown {
				eventually(t, "five probes answered", func() bool { return probes.Load() >= 5 })
				if !b.Healthy() || cut.Load() != 0 {
					t.Fatalf("probes within the timeout: healthy %v, %d cut", b.Healthy(), cut.Load())
				}
				return
			}
			eventually(t, "the slow backend is down", func() bool { return !b.Healthy() })
			if d := time.Since(start); d > time.Second {
				t.Errorf("down after %v: the probes were not cut at the %v timeout", d, tc.timeout)
			}
			if _, err := p.Pick(nil); !errors.Is(err, ErrNoBackend) {
				t.Errorf("only backend down: Pick gave %v, want ErrNoBackend", err)
			}
			p.Close() // stop probing before reading what the origin saw
			eventually(t, "the origin saw two probes end", func() bool { return cut.Load() >= 2 })
			if d := time.Duration(longestCut.Load()); d > time.Second {
				t.Errorf("a probe lasted %v with a %v timeout", d, tc.timeout)
			}
		})
	}
}

// TestHangingProbeNeverBlocksPick: Pick returns at once while a health
// probe of a backend is known to hang, whether the backend is in rotation
// (its probe hangs from the first) or down (its recovery probe hangs), and
// Close stops the hanging probe instead of waiting out its timeout.
func TestHangingProbeNeverBlocksPick(t *testing.T) {
	const bound = 100 * time.Millisecond
	tests := []struct {
		desc       string
		failFirst  bool // the first probe answers 503, taking the backend out
		alone      bool // no other backend
		wantPicked bool // the hanging backend is still picked
		wantErr    error
	}{
		{desc: "in rotation, beside another backend", wantPicked: true},
		{desc: "down, beside another backend", failFirst: true},
		{desc: "down and alone", failFirst: true, alone: true, wantErr: ErrNoBackend},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			hanging := make(chan struct{}, 1)
			var probes atomic.Int64
			o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if probes.Add(1) == 1 && tc.failFirst {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				select {
				case hanging <- struct{}{}:
				default:
				}
				<-r.Context().Done()
			}))
			t.Cleanup(o.Close)
			hc := &configs.HealthCheck{
				Path:       "/health",
				Interval:   configs.Duration(10 * time.Millisecond),
				Timeout:    configs.Duration(time.Minute),
				Thresholds: configs.Thresholds{Healthy: 1, Unhealthy: 1},
			}
			bs := []configs.Backend{{URL: o.URL, HealthCheck: hc}}
			if !tc.alone {
				bs = append(bs, testBackends(1)...)
			}
			p := mustPool(t, bs, Options{})
			hb := p.Backends()[0]
			select {
			case <-hanging:
			case <-time.After(3 * time.Second):
				t.Fatal("no probe hung within 3s")
			}
			if hb.Healthy() == tc.failFirst {
				t.Fatalf("healthy %v with the probe hanging, want %v", hb.Healthy(), !tc.failFirst)
			}

			picked := false
			var slowest time.Duration
			for range 1000 {
				start := time.Now()
				b, err := p.Pick(nil)
				slowest = max(slowest, time.Since(start))
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Pick: %v, want %v", err, tc.wantErr)
				}
				if err == nil {
					picked = picked || b == hb
					p.Done(b, Success, time.Millisecond)
				}
			}
			if slowest > bound {
				t.Errorf("a Pick took %v while a probe hung, want under %v", slowest, bound)
			}
			if picked != tc.wantPicked {
				t.Errorf("backend with the hanging probe picked %v, want %v", picked, tc.wantPicked)
			}
			start := time.Now()
			p.Close()
			if d := time.Since(start); d > time.Second {
				t.Errorf("Close took %v with a probe hanging (timeout 1m)", d)
			}
		})
	}
}
