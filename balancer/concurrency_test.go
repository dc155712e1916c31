package balancer

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// stateLog counts the pool's backend state changes by their log message.
type stateLog struct {
	mu     sync.Mutex
	counts map[string]int
}

func (l *stateLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *stateLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *stateLog) WithGroup(string) slog.Handler            { return l }

func (l *stateLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	l.counts[r.Message]++
	return nil
}

func (l *stateLog) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[msg]
}

// flipOrigin is a loopback origin whose /health answer the test switches
// between 200 and 503.
func flipOrigin(t *testing.T, failing *atomic.Bool) *httptest.Server {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

// TestConcurrentPicksWhileBackendsAreEjectedAndCheckedDown runs Pick and
// Done from many goroutines, each holding a few requests open, while one
// backend fails every request (passive ejection with a short back-off,
// failed trials, then recovery) and another is taken out and brought back
// by its active check, for every policy. Whenever the rotation did not
// change during a Pick, the backend picked must be in that rotation, and a
// backend whose trial request is already in flight must not be picked
// again; once every request is Done, nothing is left in flight.
func TestConcurrentPicksWhileBackendsAreEjectedAndCheckedDown(t *testing.T) {
	for _, policy := range configs.Policies {
		t.Run(policy, func(t *testing.T) {
			var checkFails, passiveFails atomic.Bool
			hc := &configs.HealthCheck{
				Path:       "/health",
				Interval:   configs.Duration(2 * time.Millisecond),
				Timeout:    configs.Duration(time.Second),
				Thresholds: configs.Thresholds{Healthy: 1, Unhealthy: 1},
			}
			bs := append(testBackends(1, 2, 3, 1), configs.Backend{URL: flipOrigin(t, &checkFails).URL, Weight: 2, HealthCheck: hc})
			bs[1].MaxConnections = 4
			var log stateLog
			p := mustPool(t, bs, Options{Policy: policy, Logger: slog.New(&log),
				Passive: configs.PassiveHealth{FailureThreshold: 2,
					Backoff: configs.Duration(time.Millisecond), MaxBackoff: configs.Duration(4 * time.Millisecond)}})
			ejectee, checked := p.Backends()[3], p.Backends()[4]

			var stop atomic.Bool
			var picks atomic.Int64
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 11))
					var ctx fasthttp.RequestCtx
					var open []*Backend
					done := func(b *Backend) {
						o := Success
						if b == ejectee && passiveFails.Load() {
							o = Failed
						}
						p.Done(b, o, time.Duration(1+rng.IntN(1000))*time.Microsecond)
					}
					for i := 0; !stop.Load(); i++ {
						if i%8 == 7 {
							// Leave the checks' goroutines some CPU on a small machine.
							time.Sleep(50 * time.Microsecond)
						}
						r := varied(rng, &ctx)
						if rng.IntN(3) == 0 { // a returning sticky-session client, maybe of an ejected backend
							ctx.Request.Header.SetCookie(DefaultStickyCookie, string(p.Backends()[rng.IntN(5)].token))
						}
						before := p.set.Load()
						trial := ejectee.trial.Load()
						b, err := p.Pick(r)
						if err != nil {
							if !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNoBackend) {
								t.Error(err)
								return
							}
							continue
						}
						picks.Add(1)
						if p.set.Load() == before { // Pick chose from before
							if !slices.Contains(before.up, b) {
								t.Errorf("picked %s, out of rotation (healthy %v)", b.Addr, b.Healthy())
							}
							if b == ejectee && trial == trialTaken && ejectee.trial.Load() == trialTaken {
								t.Errorf("picked %s beside its trial request", b.Addr)
							}
						}
						if n := b.InFlight(); b.MaxConns > 0 && n > b.MaxConns {
							t.Errorf("%s: %d in flight over max %d", b.Addr, n, b.MaxConns)
						}
						open = append(open, b)
						if len(open) > 3 {
							done(open[0])
							open = append(open[:0], open[1:]...)
						}
					}
					for _, b := range open {
						done(b)
					}
				})
			}
			// Stop the workers before returning, also when a wait below fails.
			stopWorkers := sync.OnceFunc(func() { stop.Store(true); wg.Wait() })
			defer stopWorkers()
			setCheck := func(failing bool) {
				t.Helper()
				checkFails.Store(failing)
				eventually(t, "the active check follows", func() bool {
					return checked.Healthy() != failing && inRotation(p, checked) != failing
				})
			}

			passiveFails.Store(true)
			for range 2 {
				setCheck(true)
				setCheck(false)
			}
			setCheck(true)
			eventually(t, "six ejections", func() bool { return log.count("backend ejected") >= 6 })
			passiveFails.Store(false)
			eventually(t, "recovery through a trial", func() bool {
				return log.count("backend recovered") >= 1 && ejectee.Healthy() && ejectee.trial.Load() == trialNone
			})
			setCheck(false)
			stopWorkers()

			if n := log.count("backend on trial"); n < 6 {
				t.Errorf("%d trials, want at least 6 (five failed, one passed)", n)
			}
			if picks.Load() == 0 {
				t.Fatal("no pick succeeded")
			}
			for _, b := range p.Backends() {
				if n := b.InFlight(); n != 0 {
					t.Errorf("%s: %d in flight after all Done", b.Addr, n)
				}
			}
		})
	}
}
