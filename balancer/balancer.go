// Package balancer picks the backend for each request: the policies
// (configs.Policies), backend state held in atomics, active health checks
// and passive ejection.
//
// The hot path is Pool.Pick and Pool.Done; both are lock-free and allocate
// nothing. Everything else (New, health checks, ejection, rebuilding the
// policy tables when a backend leaves or joins the rotation) is the slow
// path, serialized by one mutex per Pool.
//
// # Policies
//
// Every policy honors Backend.Weight except round-robin, and every policy
// skips a backend at its MaxConns.
//
//   - round-robin: each backend in turn, weights ignored.
//   - weighted-round-robin: nginx's smooth weighted round-robin (weights
//     5,1,1 give a a b a c a a), precomputed as one sequence walked by an
//     atomic counter.
//   - least-connections: fewest requests in flight; weight only breaks
//     ties (scanning in weighted-round-robin order), so idle backends share
//     by weight while busy ones even out their requests in flight.
//   - weighted-least-connections: fewest requests in flight per unit of
//     weight; ties as above.
//   - bounded-least-connections: weighted-round-robin while the candidate
//     carries at most (1+HashBound) times its weighted share of the requests
//     in flight; otherwise weighted-least-connections.
//   - least-response-time: lowest moving average of response time (fed by
//     Done) times (in flight + 1); ties are broken in weighted-round-robin
//     order. A backend not yet measured counts as the fastest measured one,
//     so it is tried soon.
//   - power-of-two: two backends drawn at random in proportion to weight;
//     the one with fewer requests in flight per unit of weight wins.
//   - ip-hash: Request.Client on a weighted hash ring, so a client keeps its
//     backend while that backend is in rotation.
//   - consistent-hash: a hash ring with weighted virtual nodes keyed by
//     HashKey, with bounded loads: a backend carrying at least
//     (1+HashBound) times its weighted share of the requests in flight is
//     passed over for the next one on the ring. Removing one of ten
//     backends remaps about a tenth of the keys.
//   - sticky-session: a cookie (default name "spillway_sticky") names the
//     backend with an opaque value, an HMAC of the backend under a key drawn
//     at random once per process; it cannot be forged, survives a reload
//     that keeps the backend, and goes stale on a restart. A missing,
//     forged or stale cookie, or one naming a backend out of rotation or
//     full, falls back to the base policy (Options.StickyBase, the
//     sticky_base key; round-robin when unset) and Stamp sets a new cookie
//     on the response.
//   - adaptive: weighted-round-robin while the pool is lightly loaded (fewer
//     requests in flight than backends in rotation); under load,
//     least-response-time when the measured response times of the backends
//     differ by more than 2× (slowest over fastest), otherwise
//     weighted-least-connections. The spread is re-measured every 64 picks.
//
// # Health
//
// A backend is in rotation unless an active health check has marked it down
// or passive health has ejected it. Active checks (when a health_check block
// applies to the backend) probe it periodically in their own goroutine and
// never block a request. Passive health counts consecutive failed Outcomes
// reported to Done; at the threshold the backend is ejected for a back-off
// that doubles, up to a maximum, while it keeps failing. When the back-off
// ends exactly one trial request is let through, and its outcome either
// returns the backend to rotation or ejects it again.
package balancer

import (
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Errors returned by Pick. The proxy maps both to 503.
var (
	// ErrNoBackend means every backend is unhealthy or ejected (or, for a
	// retry, the only one left is the excluded one). It is returned at once.
	ErrNoBackend = errors.New("no healthy backend")
	// ErrBusy means every usable backend is at its max_connections, after
	// waiting up to Options.QueueTimeout when that is set.
	ErrBusy = errors.New("all backends at max_connections")
)

// Backend is one upstream server of a Pool. Its exported fields are set by
// New and read-only afterwards; its counters are updated through Pick and
// Done. A Backend is shared between goroutines and must not be copied.
type Backend struct {
	// URL is the parsed backend URL.
	URL *url.URL
	// Addr is the URL's host:port with the scheme's default port filled in.
	Addr string
	// Weight is the configured weight (at least 1).
	Weight int
	// MaxConns caps requests in flight (0: no cap).
	MaxConns int64
	// Index is the backend's position in the Pool, for callers that keep
	// per-backend state in a parallel slice.
	Index int

	inflight atomic.Int64
	// rtt is the moving average of response times in nanoseconds (0: none yet).
	rtt atomic.Int64

	// Health state. down and ejected are written on the slow path under
	// Pool.mu and read lock-free; trial gates the single trial request.
	down    atomic.Bool
	ejected atomic.Bool
	trial   atomic.Int32
	fails   atomic.Int32

	// Guarded by Pool.mu.
	backoff time.Duration
	timer   *time.Timer

	raw         string // the configured URL, stable key of the hash rings
	token       []byte // sticky-session cookie value
	tokenPrefix uint64 // its first 8 bytes, to find the candidate quickly
}

// InFlight returns the number of requests the backend is serving now.
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

// Healthy reports whether the backend is in rotation: not marked down by an
// active health check and not ejected by passive health.
func (b *Backend) Healthy() bool { return !b.down.Load() && !b.ejected.Load() }

// Trial states of a Backend after a passive ejection's back-off.
const (
	trialNone  int32 = iota // not on trial
	trialOpen               // the next request to take it is the trial
	trialTaken              // the trial request is in flight; nobody else may take it
)

// Outcome is what became of a request sent to a backend; passive health
// and response-time policies learn from it.
type Outcome uint8

const (
	// Success: the backend answered (any status below 500, or any status
	// when 5xx are not counted as failures).
	Success Outcome = iota
	// ConnectFailed: the connection could not be opened.
	ConnectFailed
	// Failed: reset, closed before answering, or timed out.
	Failed
	// ServerError: the backend answered 5xx. It counts as a failure only
	// with count_5xx (Options.Passive.Count5xx).
	ServerError
	// NotSent: no verdict on the backend. The request never left the
	// proxy because its connections to the backend were all in use
	// (connection_pool.max_open), which says the backend is busy, not
	// broken; or the client's side failed while the request was being
	// sent (its body stopped arriving), or the proxy itself ran short of
	// descriptors or memory (LocalShortage): none of which says anything
	// of the backend. It is no failure, and it does not clear the failures counted before
	// it either.
	NotSent
	// Streaming: the head arrived and the body is still on its way; how it
	// ends goes to Finish. It decides a trial as a success (a trial
	// request that streams for minutes must not keep the backend's gate
	// shut), feeds response times, and neither counts a failure nor
	// clears the failures counted before it.
	Streaming
)

// Request is what a policy may look at to choose a backend. Pick reads it
// only during the call and keeps nothing, so the caller may reuse it (the
// proxy keeps one per request in pooled scratch space).
type Request struct {
	// Ctx is the request being balanced; hash keys and sticky-session read
	// its headers, cookies and path. May be nil (hash keys then fall back
	// to Client).
	Ctx *fasthttp.RequestCtx
	// Client is the client address after trusted_proxies handling.
	Client netip.Addr
	// Exclude is a backend to avoid (the one a retry is moving away from);
	// may be nil. It is ignored when it is the only backend in rotation.
	Exclude *Backend

	// trial is set by Pick when the request took its backend's trial
	// gate, so that Observe lets only the trial decide the trial.
	trial bool
}

// noRequest stands in for a nil *Request.
var noRequest Request

// Pool is the set of backends of one location and the policy choosing among
// them. It is safe for concurrent use; build it with New and stop it with
// Close.
type Pool struct {
	backends []*Backend
	policy   policy
	sticky   *sticky // non-nil for sticky-session
	log      *slog.Logger

	// set is the current snapshot of backends in rotation with the
	// policy's precomputed tables; replaced (never modified) by rebuild.
	set atomic.Pointer[set]

	trackRTT bool // Done feeds Backend.rtt (least-response-time, adaptive)
	passive  passive
	queue    queue

	mu     sync.Mutex // slow path: rebuild, ejection, Close
	closed bool
	stop   func() // cancels active health checks
	wg     sync.WaitGroup
}

// TimesRequests reports whether Done uses its elapsed argument (the
// least-response-time and adaptive policies); when it does not, callers
// may skip reading the clock and pass 0.
func (p *Pool) TimesRequests() bool { return p.trackRTT }

// Backends returns the pool's backends in configuration order. The slice must not be modified.
func (p *Pool) Backends() []*Backend { return p.backends }

// Pick chooses a backend for r and counts one request in flight on it.
// Every successful Pick must be followed by exactly one Done. It never
// blocks unless every usable backend is full and Options.QueueTimeout is
// set; it returns ErrNoBackend at once when no backend is in rotation.
func (p *Pool) Pick(r *Request) (*Backend, error) {
	if r == nil {
		r = &noRequest
	} else {
		r.trial = false
	}
	s := p.set.Load()
	if b := p.policy.pick(s, r); b != nil {
		return b, nil
	}
	err := s.why(r)
	if err == ErrBusy && p.queue.timeout > 0 {
		return p.wait(r)
	}
	return nil, err
}

// Done ends a request counted by Pick, reporting its outcome and duration:
// Observe without the Request, and Release, in one call. Without the
// Request, the first outcome reported for a backend on trial decides the
// trial, even that of a request begun before the backend was ejected;
// callers that have the Request should use Observe and Release.
func (p *Pool) Done(b *Backend, o Outcome, elapsed time.Duration) {
	p.Observe(nil, b, o, elapsed)
	p.Release(b)
}

// Observe reports the outcome and duration of a request to b without
// ending it, for an answer whose head has arrived while its body still
// streams: the backend is still busy with it until Release. r is the
// Request given to Pick (or nil); when it is set, only the request that
// took b's trial gate decides the trial, and the outcomes of requests
// begun before the ejection are ignored while the trial runs. The outcome
// feeds passive health (ConnectFailed and Failed are failures, ServerError
// too with count_5xx); elapsed feeds the response-time average of
// least-response-time and adaptive (not on ConnectFailed or NotSent).
func (p *Pool) Observe(r *Request, b *Backend, o Outcome, elapsed time.Duration) {
	if p.trackRTT && o != ConnectFailed && o != NotSent && elapsed > 0 {
		observeRTT(b, elapsed)
	}
	p.passive.done(p, b, o, r == nil || r == &noRequest || r.trial)
}

// Finish ends a request whose head went to Observe as Streaming, with how
// its body ended: Success, or Failed when the backend broke it off, which
// counts toward passive health as a failure before the head would. It
// never decides a trial (the head did), and releases b as Release does.
func (p *Pool) Finish(b *Backend, o Outcome) {
	p.passive.done(p, b, o, false)
	p.Release(b)
}

// Release ends a request counted by Pick whose outcome went to Observe:
// from then on it no longer counts toward b's in-flight load or its
// max_connections.
func (p *Pool) Release(b *Backend) {
	b.inflight.Add(-1)
	if p.queue.waiters.Load() > 0 {
		p.queue.wake()
	}
}

// observeRTT folds elapsed into b's moving average with weight 1/8: recent
// enough to follow a backend slowing down, smooth enough to ignore one
// slow request. Concurrent updates may lose one sample; that is harmless.
func observeRTT(b *Backend, elapsed time.Duration) {
	x := int64(elapsed)
	old := b.rtt.Load()
	if old == 0 {
		b.rtt.Store(x)
		return
	}
	b.rtt.Store(old + (x-old)/8)
}

// Stamp lets the policy decorate the response to the client after b served
// it: sticky-session sets its cookie when the request did not already carry
// b's. Other policies do nothing.
func (p *Pool) Stamp(ctx *fasthttp.RequestCtx, b *Backend) {
	if p.sticky != nil {
		p.sticky.stamp(ctx, b)
	}
}

// Close stops the pool's health checks and ejection timers and waits for
// the checks to return. Pick and Done keep working on the last state.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for _, b := range p.backends {
		if b.timer != nil {
			b.timer.Stop()
		}
	}
	stop := p.stop
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
	p.wg.Wait()
}
