// Package balancer picks the backend for each request: the policies
// (round-robin and the others of configs.Policies), backend state held in
// atomics, active health checks and passive ejection.
//
// The hot path is Pool.Pick and Pool.Done; both are lock-free and allocate
// nothing. Everything else (New, health checks) is the slow path.
package balancer

import (
	"errors"
	"net/netip"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Errors returned by Pick. The proxy maps both to 503.
var (
	// ErrNoBackend means every backend is unhealthy or ejected.
	ErrNoBackend = errors.New("no healthy backend")
	// ErrBusy means every usable backend is at its max_connections.
	ErrBusy = errors.New("all backends at max_connections")
)

// Backend is one upstream server of a Pool. Its exported fields are set by
// New and read-only afterwards; its counters are updated through Pick and Done.
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
}

// InFlight returns the number of requests the backend is serving now.
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

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
	// ServerError: the backend answered 5xx.
	ServerError
)

// Request is what a policy may look at to choose a backend.
type Request struct {
	// Ctx is the request being balanced; hash keys read its headers, cookies and path.
	Ctx *fasthttp.RequestCtx
	// Client is the client address after trusted_proxies handling.
	Client netip.Addr
	// Exclude is a backend to avoid (the one a retry is moving away from); may be nil.
	Exclude *Backend
}

// Pool is the set of backends of one location and the policy choosing among them.
type Pool struct {
	backends []*Backend
	next     atomic.Uint64
}

// Backends returns the pool's backends in configuration order. The slice must not be modified.
func (p *Pool) Backends() []*Backend { return p.backends }

// Pick chooses a backend for r and counts one request in flight on it.
// Every successful Pick must be followed by exactly one Done.
func (p *Pool) Pick(r *Request) (*Backend, error) {
	n := uint64(len(p.backends))
	if n == 0 {
		return nil, ErrNoBackend
	}
	for i := uint64(0); i < n; i++ {
		b := p.backends[(p.next.Add(1)-1)%n]
		if b == r.Exclude && n > 1 {
			continue
		}
		if b.MaxConns > 0 && b.inflight.Load() >= b.MaxConns {
			continue
		}
		b.inflight.Add(1)
		return b, nil
	}
	return nil, ErrBusy
}

// Done ends a request counted by Pick, reporting its outcome and duration.
func (p *Pool) Done(b *Backend, o Outcome, elapsed time.Duration) {
	b.inflight.Add(-1)
}

// Stamp lets the policy decorate the response to the client after b served
// it (sticky-session sets its cookie here). Other policies do nothing.
func (p *Pool) Stamp(ctx *fasthttp.RequestCtx, b *Backend) {}

// Close stops the pool's health checks.
func (p *Pool) Close() {}
