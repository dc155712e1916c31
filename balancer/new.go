package balancer

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// Defaults applied by New and OptionsFor.
const (
	// DefaultHashBound is consistent-hash's and bounded-least-connections'
	// load bound when Options.HashBound is nil.
	DefaultHashBound = 0.25
	// DefaultFailureThreshold, DefaultBackoff and DefaultMaxBackoff are the
	// passive-health settings OptionsFor uses for unset keys.
	DefaultFailureThreshold = 5
	DefaultBackoff          = 10 * time.Second
	DefaultMaxBackoff       = 5 * time.Minute
)

// Options are the settings of one Pool beyond its backends. The zero value
// is round-robin with no health checks, no passive ejection and no queue.
type Options struct {
	// Policy is a name from configs.Policies, with '-' or '_' and in any
	// case; empty means round-robin. New rejects any other name.
	Policy string
	// HashKey is what consistent-hash hashes: "ip" (the default, for ""),
	// "path", "header:NAME" or "cookie:NAME". A request lacking the header
	// or cookie hashes its client address. Other policies ignore it, but
	// New still rejects a malformed value.
	HashKey string
	// HashBound is the load bound of consistent-hash and
	// bounded-least-connections: no backend takes a request while carrying
	// (1+HashBound) times its weighted share of the requests in flight, or
	// more. Nil means DefaultHashBound; a negative value disables the bound.
	HashBound *float64
	// StickyCookie names sticky-session's cookie. Default DefaultStickyCookie.
	StickyCookie string
	// StickyBase is the policy sticky-session uses for a request without a
	// valid cookie (any policy but sticky-session); empty means round-robin.
	StickyBase string
	// HealthCheck is the active check of every backend without its own
	// configs.Backend.HealthCheck; nil with no backend check configured
	// means no active checks (backends stay in rotation unless ejected).
	// An http check GETs the backend's URL path followed by the check's
	// path (default /health) on a new connection and passes on a status
	// below 400 (redirects are not followed); a tcp check passes when a
	// connection opens. Zero fields default to an interval of 10s, a
	// timeout of 2s and thresholds of 2 (healthy) and 3 (unhealthy).
	HealthCheck *configs.HealthCheck
	// Passive configures ejection on failed Outcomes. FailureThreshold 0
	// disables it (OptionsFor fills the configuration's defaults); a zero
	// Backoff means DefaultBackoff, a zero MaxBackoff DefaultMaxBackoff.
	Passive configs.PassiveHealth
	// QueueTimeout lets Pick wait this long for a backend below its
	// MaxConns when all are full. Zero: ErrBusy at once.
	QueueTimeout time.Duration
	// Previous is the pool this one replaces when the configuration is
	// reloaded. A backend with the same URL that Previous's active check
	// had taken out of rotation starts out of it here too, when it has an
	// active check here that can bring it back, rather than taking
	// traffic until the check fails again. Previous is only read.
	Previous *Pool
	// Logger receives backend state changes (down, up, ejected, on trial,
	// recovered), each naming the backend. Nil means slog.Default().
	Logger *slog.Logger
}

// New builds the pool of one location and starts its active health checks,
// which run until Close. Backends are validated by the configs package
// before; New reports what it still cannot use, including an unknown
// policy name or hash key. Every backend starts in rotation, except as
// Options.Previous says.
func New(backends []configs.Backend, opts Options) (*Pool, error) {
	p := &Pool{log: opts.Logger, queue: queue{timeout: opts.QueueTimeout}}
	if p.log == nil {
		p.log = slog.Default()
	}
	checks := make([]*check, len(backends))
	// One array keeps the backends' counters close together for the scans
	// of the least-loaded policies; each Backend spans more than a cache
	// line, so neighbours' counters do not share one.
	arr := make([]Backend, len(backends))
	for i, bc := range backends {
		b := &arr[i]
		if err := b.init(bc, i); err != nil {
			return nil, err
		}
		p.backends = append(p.backends, b)
		hc := bc.HealthCheck
		if hc == nil {
			hc = opts.HealthCheck
		}
		if hc != nil {
			var err error
			if checks[i], err = newCheck(b, hc, hc.SkipTLSVerify || bc.SkipTLSVerify); err != nil {
				return nil, fmt.Errorf("backend %q: %w", bc.URL, err)
			}
		}
	}
	if err := p.setPolicy(opts); err != nil {
		return nil, err
	}
	if opts.Previous != nil {
		p.inheritDown(opts.Previous, checks)
	}
	p.passive = passive{
		threshold:  int32(max(0, opts.Passive.FailureThreshold)),
		backoff:    opts.Passive.Backoff.D(),
		maxBackoff: opts.Passive.MaxBackoff.D(),
		count5xx:   opts.Passive.Count5xx,
	}
	if p.passive.backoff <= 0 {
		p.passive.backoff = DefaultBackoff
	}
	if p.passive.maxBackoff <= 0 {
		p.passive.maxBackoff = DefaultMaxBackoff
	}
	p.passive.maxBackoff = max(p.passive.maxBackoff, p.passive.backoff)
	p.mu.Lock()
	p.rebuild()
	p.mu.Unlock()
	p.startChecks(checks)
	return p, nil
}

// init sets b from its configuration, at position i of the pool.
func (b *Backend) init(bc configs.Backend, i int) error {
	u, err := url.Parse(bc.URL)
	if err != nil {
		return fmt.Errorf("backend %q: %w", bc.URL, err)
	}
	if u.Host == "" {
		return fmt.Errorf("backend %q: no host", bc.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	b.URL, b.Addr, b.Weight, b.MaxConns = u, addr, max(1, bc.Weight), int64(max(0, bc.MaxConnections))
	b.Index, b.raw = i, bc.URL
	return nil
}

// setPolicy builds the policy named by opts.Policy.
func (p *Pool) setPolicy(opts Options) error {
	key, err := parseHashKey(opts.HashKey)
	if err != nil {
		return err
	}
	bound := DefaultHashBound
	if opts.HashBound != nil {
		bound = *opts.HashBound
	}
	name := canonical(opts.Policy)
	if name != "sticky-session" {
		p.policy, err = p.newPolicy(name, opts.Policy, key, bound)
		return err
	}
	baseName := canonical(opts.StickyBase)
	if baseName == "sticky-session" {
		return fmt.Errorf("sticky-session cannot be its own base policy")
	}
	base, err := p.newPolicy(baseName, opts.StickyBase, key, bound)
	if err != nil {
		return fmt.Errorf("sticky base: %w", err)
	}
	p.sticky = newSticky(opts.StickyCookie, p.backends, base)
	p.policy = p.sticky
	return nil
}

// newPolicy builds the policy of canonical name (written as given, for
// messages) and notes what it needs the pool to track.
func (p *Pool) newPolicy(name, given string, key hashKey, bound float64) (policy, error) {
	switch name {
	case "", "round-robin":
		return &roundRobin{}, nil
	case "weighted-round-robin":
		return &weightedRoundRobin{}, nil
	case "least-connections":
		return &leastConn{score: byConns}, nil
	case "weighted-least-connections":
		return &leastConn{score: byConnsPerWeight}, nil
	case "bounded-least-connections":
		return &boundedLeastConn{bound: bound, least: leastConn{score: byConnsPerWeight}}, nil
	case "least-response-time":
		p.trackRTT = true
		return &leastConn{score: byResponseTime}, nil
	case "power-of-two":
		return &powerOfTwo{}, nil
	case "ip-hash":
		return &consistentHash{key: hashKey{kind: keyIP}, bound: -1}, nil
	case "consistent-hash":
		return &consistentHash{key: key, bound: bound}, nil
	case "adaptive":
		p.trackRTT = true
		return newAdaptive(), nil
	}
	return nil, fmt.Errorf("unknown policy %q: want one of %s", given, strings.Join(configs.Policies, ", "))
}

// canonical spells a policy name as configs.Policies does.
func canonical(policy string) string {
	return strings.ReplaceAll(strings.ToLower(policy), "_", "-")
}

// OptionsFor gathers a location's pool settings from the configuration:
// its policy (or the global algorithm) and policy options, the most
// specific health check (service over global; New lets a backend's own
// check win), passive health with a circuit_breaker middleware entry's
// failure_threshold and reset_timeout overriding it (the service's entry
// over the global one), the queue timeout and the default logger. svc and
// loc may be nil (the top-level service, or no location settings).
func OptionsFor(cfg *configs.Config, svc *configs.Service, loc *configs.Location) Options {
	var o Options
	if loc != nil {
		o.Policy, o.HashKey, o.HashBound, o.StickyCookie = loc.LBPolicy, loc.HashKey, loc.HashBound, loc.StickyCookie
		o.StickyBase = loc.StickyBase
	}
	if o.Policy == "" {
		o.Policy = cfg.Algorithm
	}
	if o.Policy = canonical(o.Policy); o.Policy == "" {
		o.Policy = "round-robin"
	}
	if o.HashKey == "" {
		o.HashKey = cfg.HashKey
	}
	if o.HashBound == nil {
		o.HashBound = cfg.HashBound
	}
	if o.StickyCookie == "" {
		o.StickyCookie = cfg.StickyCookie
	}
	o.HealthCheck = cfg.HealthCheck
	mw := cfg.Middleware
	if svc != nil {
		if svc.HealthCheck != nil {
			o.HealthCheck = svc.HealthCheck
		}
		if breaker(svc.Middleware) != nil {
			mw = svc.Middleware
		}
	}
	o.Passive = cfg.PassiveHealth
	if cb := breaker(mw); cb != nil {
		if cb.FailureThreshold > 0 {
			o.Passive.FailureThreshold = cb.FailureThreshold
		}
		if cb.ResetTimeout > 0 {
			o.Passive.Backoff = cb.ResetTimeout
		}
	}
	if o.Passive.FailureThreshold <= 0 {
		o.Passive.FailureThreshold = DefaultFailureThreshold
	}
	o.QueueTimeout = cfg.ConnectionPool.QueueTimeout.D()
	return o
}

// breaker returns the circuit_breaker entry of a middleware list, if any.
func breaker(mw []configs.Middleware) *configs.CircuitBreaker {
	for _, m := range mw {
		if m.CircuitBreaker != nil {
			return m.CircuitBreaker
		}
	}
	return nil
}
