package configs

import (
	"path/filepath"
	"strings"
	"time"
)

// Default values that are not zero. Each is also written in the schema's
// field comments, which are the configuration reference.
const (
	defaultPort          = 8080
	defaultStickyCookie  = "spillway_sticky"
	defaultHashKey       = "ip"
	defaultHashBound     = 0.25
	defaultPluginDir     = "./plugins"
	defaultRedirectPort  = 443
	defaultMaxHeader     = 16384
	defaultRetryBody     = 65536
	defaultRetryAttempts = 1
	defaultMaxIdle       = 512
	defaultFailures      = 5
	defaultMinTLS        = "1.2"
	defaultUnknownSNI    = "default"
	defaultServiceName   = "default"
)

// Prepare applies the defaults, normalizes and validates c, so that
// consumers read effective values only. It must be called once a Config is
// built (Load and Parse call it; tests that build a Config in code call it
// themselves) and may be called again: it is idempotent.
//
// Normalization: the top-level Backends become one more Service, named
// "default", appended after the written ones so that services[i] in
// messages is services[i] in the file; afterwards consumers iterate only
// Services. Every Location gets its effective LBPolicy (its own, else
// Algorithm, else round-robin) in canonical form, and its effective
// HashKey, HashBound and StickyCookie. HealthCheck, Middleware and TLS stay
// where they were written (consumers pick the most specific); unset fields
// inside each written health_check and tls block get their defaults.
//
// Ports: a service without a port takes the top-level one, and 0 stays 0,
// an ephemeral port (only Load and Parse turn an absent top-level port into
// 8080). Relative certificate and CA file names of a loaded file are made
// absolute from the file's directory.
//
// Prepare changes c in place; do not call it while others read c. The
// error, when not nil, is an *Error listing every problem found, with lines
// from Positions when the Config was loaded from a file.
func (c *Config) Prepare() error {
	ps := &problems{file: c.File, pos: c.Positions}
	c.prepare(ps)
	return ps.err()
}

// prepare is Prepare collecting into ps, which Parse shares with the
// decoder so that one list holds everything.
func (c *Config) prepare(ps *problems) {
	c.resolvePaths()
	c.normalize()
	c.validate(ps)
	c.defaults()
}

// normalize turns the top-level backends into the "default" service, once.
func (c *Config) normalize() {
	if len(c.Backends) == 0 {
		return
	}
	for i := range c.Services {
		if c.Services[i].synth {
			return
		}
	}
	c.Services = append(c.Services, Service{
		Name:  defaultServiceName,
		Port:  c.Port,
		synth: true,
		Locations: []Location{{
			Path:     "/",
			Backends: append([]Backend(nil), c.Backends...),
		}},
	})
}

// resolvePaths makes the relative certificate and CA file names of a
// loaded file absolute, from the file's directory, so that a configuration
// means the same whatever directory Spillway (or -check) runs in. Names in
// a Config built in code are left alone. Absolute results keep this
// idempotent.
func (c *Config) resolvePaths() {
	if c.File == "" {
		return
	}
	dir := filepath.Dir(c.File)
	abs := func(p *string) {
		if *p == "" || filepath.IsAbs(*p) {
			return
		}
		if a, err := filepath.Abs(filepath.Join(dir, *p)); err == nil {
			*p = a
		}
	}
	tlsFiles := func(t *TLS) {
		if t != nil {
			abs(&t.CertFile)
			abs(&t.KeyFile)
		}
	}
	backends := func(list []Backend) {
		for i := range list {
			abs(&list[i].CAFile)
		}
	}
	tlsFiles(c.TLS)
	backends(c.Backends)
	for i := range c.Services {
		s := &c.Services[i]
		tlsFiles(s.TLS)
		for j := range s.Locations {
			backends(s.Locations[j].Backends)
		}
	}
}

// defaults fills every unset field with its documented default.
func (c *Config) defaults() {
	policy, ok := CanonicalPolicy(c.Algorithm)
	switch {
	case c.Algorithm == "":
		c.Algorithm = "round-robin"
	case ok:
		c.Algorithm = policy
	}
	setString(&c.HashKey, defaultHashKey)
	if k, ok := canonicalHashKey(c.HashKey); ok {
		c.HashKey = k
	}
	if c.HashBound == nil {
		c.HashBound = ptr(defaultHashBound)
	}
	setString(&c.StickyCookie, defaultStickyCookie)
	setString(&c.StickyBase, "round-robin")
	if p, ok := CanonicalPolicy(c.StickyBase); ok {
		c.StickyBase = p
	}
	setString(&c.PluginDirectory, defaultPluginDir)
	if c.PluginStrict == nil {
		c.PluginStrict = ptr(true)
	}
	for name, p := range c.Plugins {
		if p.Enabled == nil {
			p.Enabled = ptr(true)
		}
		setDuration(&p.Timeout, 5*time.Second)
		c.Plugins[name] = p
	}
	setInt(&c.ConnectionPool.MaxIdle, defaultMaxIdle)
	setDuration(&c.ConnectionPool.IdleTimeout, 90*time.Second)
	c.HealthCheck.defaults()
	c.TLS.defaults()
	c.timeoutDefaults()
	for i := range c.Services {
		c.serviceDefaults(&c.Services[i])
	}
	for i := range c.Backends {
		c.Backends[i].defaults()
	}
}

// timeoutDefaults fills the global settings of the proxy and balancer.
func (c *Config) timeoutDefaults() {
	t := &c.Timeouts
	setDuration(&t.ClientHeader, 10*time.Second)
	setDuration(&t.ClientRead, 60*time.Second)
	setDuration(&t.ClientWrite, 60*time.Second)
	setDuration(&t.ClientIdle, 90*time.Second)
	setDuration(&t.BackendConnect, 5*time.Second)
	setDuration(&t.BackendResponse, 60*time.Second)
	setDuration(&t.TunnelIdle, time.Hour)
	setInt(&c.Limits.MaxHeaderBytes, defaultMaxHeader)
	if c.Retry.Attempts == nil {
		c.Retry.Attempts = ptr(defaultRetryAttempts)
	}
	setInt(&c.Retry.MaxBodyBytes, defaultRetryBody)
	setDuration(&c.ShutdownGrace, 30*time.Second)
	setDuration(&c.UpgradeTimeout, time.Minute)
	c.Log.Format = strings.ToLower(c.Log.Format)
	c.Log.Level = strings.ToLower(c.Log.Level)
	setString(&c.Log.Format, "text")
	setString(&c.Log.Level, "info")
	c.AccessLog.Format = strings.ToLower(c.AccessLog.Format)
	setString(&c.AccessLog.Format, "combined")

	// The global circuit_breaker entry is Terraster's way of writing
	// passive ejection; when present it wins over passive_health.
	ph := &c.PassiveHealth
	for _, m := range c.Middleware {
		if cb := m.CircuitBreaker; cb != nil {
			if cb.FailureThreshold > 0 {
				ph.FailureThreshold = cb.FailureThreshold
			}
			if cb.ResetTimeout > 0 {
				ph.Backoff = cb.ResetTimeout
			}
		}
	}
	setInt(&ph.FailureThreshold, defaultFailures)
	setDuration(&ph.Backoff, 10*time.Second)
	setDuration(&ph.MaxBackoff, max(5*time.Minute, ph.Backoff.D()))
}

// serviceDefaults fills one service and its locations.
func (c *Config) serviceDefaults(s *Service) {
	if s.Port == 0 {
		s.Port = c.Port
	}
	setInt(&s.RedirectPort, defaultRedirectPort)
	s.HealthCheck.defaults()
	s.TLS.defaults()
	for i := range s.Locations {
		l := &s.Locations[i]
		setString(&l.Path, "/")
		switch p, ok := CanonicalPolicy(l.LBPolicy); {
		case ok:
			l.LBPolicy = p
		case l.LBPolicy == "":
			// c.Algorithm is already canonical when valid; an invalid
			// one was reported and is not spread to every location.
			if _, valid := CanonicalPolicy(c.Algorithm); valid {
				l.LBPolicy = c.Algorithm
			}
		}
		setString(&l.HashKey, c.HashKey)
		if k, ok := canonicalHashKey(l.HashKey); ok {
			l.HashKey = k
		}
		if l.HashBound == nil {
			l.HashBound = ptr(*c.HashBound)
		}
		setString(&l.StickyCookie, c.StickyCookie)
		setString(&l.StickyBase, c.StickyBase)
		if p, ok := CanonicalPolicy(l.StickyBase); ok {
			l.StickyBase = p
		}
		for j := range l.Backends {
			l.Backends[j].defaults()
		}
	}
}

// defaults fills one backend.
func (b *Backend) defaults() {
	setInt(&b.Weight, 1)
	b.HealthCheck.defaults()
}

// defaults fills the unset fields of a written health_check block.
func (h *HealthCheck) defaults() {
	if h == nil {
		return
	}
	h.Type = strings.ToLower(h.Type)
	setString(&h.Type, "http")
	setString(&h.Path, "/health")
	setDuration(&h.Interval, 10*time.Second)
	setDuration(&h.Timeout, 2*time.Second)
	setInt(&h.Thresholds.Healthy, 2)
	setInt(&h.Thresholds.Unhealthy, 3)
}

// defaults fills the unset fields of a written tls block.
func (t *TLS) defaults() {
	if t == nil {
		return
	}
	setString(&t.MinVersion, defaultMinTLS)
	t.UnknownSNI = strings.ToLower(t.UnknownSNI)
	setString(&t.UnknownSNI, defaultUnknownSNI)
	setDuration(&t.ExpiryWarning, 14*24*time.Hour)
}

// ServiceTLS returns the TLS block in effect for s, or nil when s serves
// plain HTTP. A service's own tls block applies unless it says enabled:
// false (which turns TLS off for that service); without one, the global tls
// applies when it has enabled: true, except to an http_redirect service,
// which is the plain-HTTP side of a redirect. The validation of ports and
// the server's listeners both follow this rule.
func (c *Config) ServiceTLS(s *Service) *TLS {
	if t := s.TLS; t != nil {
		if t.Enabled != nil && !*t.Enabled {
			return nil
		}
		return t
	}
	if g := c.TLS; g != nil && g.Enabled != nil && *g.Enabled && !s.HTTPRedirect {
		return g
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setInt(i *int, def int) {
	if *i == 0 {
		*i = def
	}
}

func setDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}
