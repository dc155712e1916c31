package configs

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// This file holds the checks of middleware and TLS, and of the listeners
// that services share.

// checkMiddleware checks a middleware list (global or a service's). The
// values of each kind are checked by the kind's Check (middleware.go),
// which middleware.New applies too, so -check reports all that start-up
// would refuse.
func checkMiddleware(ps *problems, key string, list []Middleware) {
	for i, m := range list {
		k := key + "[" + strconv.Itoa(i) + "]"
		if !checkKinds(ps, k, m) {
			continue
		}
		// A kind written without a value ("rate_limit:") is checked as
		// empty: it says nothing New could use.
		if ps.has(join(k, "rate_limit")) || m.RateLimit != nil {
			fieldErrors(ps, join(k, "rate_limit"), cmp.Or(m.RateLimit, &RateLimit{}).Check())
		}
		if cb := m.CircuitBreaker; cb != nil {
			nonNegativeInt(ps, join(k, "circuit_breaker.failure_threshold"), cb.FailureThreshold)
			nonNegative(ps, join(k, "circuit_breaker.reset_timeout"), cb.ResetTimeout)
		}
		if s := m.Security; s != nil {
			fieldErrors(ps, join(k, "security"), s.Check())
		}
		if ps.has(join(k, "cors")) || m.CORS != nil {
			checkCORS(ps, join(k, "cors"), cmp.Or(m.CORS, &CORS{}))
		}
	}
}

// checkKinds checks that entry k sets exactly one kind, and reports
// whether it sets any. A kind counts when its key was written, so
// "compression: false" is a service's way to turn off the global entry.
func checkKinds(ps *problems, k string, m Middleware) bool {
	var kinds []string
	for _, kind := range []struct {
		name string
		set  bool
	}{
		{"rate_limit", m.RateLimit != nil}, {"circuit_breaker", m.CircuitBreaker != nil},
		{"security", m.Security != nil}, {"cors", m.CORS != nil}, {"compression", m.Compression},
	} {
		if kind.set || ps.has(join(k, kind.name)) {
			kinds = append(kinds, kind.name)
		}
	}
	switch len(kinds) {
	case 0:
		ps.errorf(k, "a middleware entry sets nothing: expected one of rate_limit, circuit_breaker, security, cors, compression")
		return false
	case 1:
	default:
		ps.errorf(k, "a middleware entry sets %s: write each kind as its own list entry", strings.Join(kinds, " and "))
	}
	return true
}

// fieldErrors reports a kind's Check results under its key.
func fieldErrors(ps *problems, key string, errs []FieldError) {
	for _, e := range errs {
		ps.errorf(join(key, e.Field), "%s", e.Msg)
	}
}

// checkCORS checks a cors entry. "*" with credentials is refused by
// browsers (Fetch standard, CORS protocol), so it is an error here rather
// than a surprise there.
func checkCORS(ps *problems, key string, c *CORS) {
	fieldErrors(ps, key, c.Check())
	if slices.Contains(c.AllowedOrigins, "*") && c.AllowCredentials {
		ps.errorf(join(key, "allow_credentials"), "allowed_origins \"*\" cannot be combined with allow_credentials: list the origins instead")
	}
	checkHeaderNames(ps, join(key, "allowed_headers"), c.AllowedHeaders, true)
	checkHeaderNames(ps, join(key, "exposed_headers"), c.ExposedHeaders, true)
	checkHeaderNames(ps, join(key, "allowed_methods"), c.AllowedMethods, true)
}

// checkTLS checks a written tls block; resolvePaths has already made the
// file names of a loaded file absolute. A service's block is on unless it
// says enabled: false; the global block only with enabled: true (see
// ServiceTLS).
func checkTLS(ps *problems, key string, t *TLS, global bool) {
	if t == nil {
		return
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		ps.errorf(join(key, "min_version"), "%q: expected \"1.2\" or \"1.3\"", t.MinVersion)
	}
	switch strings.ToLower(t.UnknownSNI) {
	case "", "default", "reject":
	default:
		ps.errorf(join(key, "unknown_sni"), "%q: expected default or reject", t.UnknownSNI)
	}
	nonNegative(ps, join(key, "expiry_warning"), t.ExpiryWarning)
	on := t.Enabled == nil || *t.Enabled
	if global {
		on = t.Enabled != nil && *t.Enabled
		if !on && t.Enabled == nil && t.CertFile != "" {
			ps.warnAt(ps.lineOf(key), key, "cert_file is set but enabled is not true, so this tls block applies to no service")
		}
	}
	if !on {
		return
	}
	if t.CertFile == "" || t.KeyFile == "" {
		missing := "cert_file"
		if t.CertFile != "" {
			missing = "key_file"
		}
		ps.errorf(join(key, missing), "missing: TLS needs both cert_file and key_file")
		return
	}
	readable := true
	for _, f := range []struct{ k, path string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if _, err := os.ReadFile(f.path); err != nil {
			ps.errorf(join(key, f.k), "cannot read %s: %v", f.path, unwrapPathError(err))
			readable = false
		}
	}
	if !readable {
		return
	}
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		ps.errorf(join(key, "cert_file"), "%s and %s are not a certificate and its key: %v", t.CertFile, t.KeyFile, err)
	}
}

// checkCAFile checks that a backend's CA bundle holds certificates.
func checkCAFile(ps *problems, key, path string) {
	pem, err := os.ReadFile(path)
	if err != nil {
		ps.errorf(key, "cannot read %s: %v", path, unwrapPathError(err))
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		ps.errorf(key, "%s holds no PEM certificate", path)
	}
}

// unwrapPathError drops os.PathError's repetition of the path.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// validatePorts checks what services sharing a listener port must agree
// on: distinct hosts, all plain or all TLS, and TLS listener settings.
func (c *Config) validatePorts(ps *problems) {
	byPort := map[int][]int{}
	var order []int
	for i := range c.Services {
		p := c.Services[i].Port
		if p == 0 {
			p = c.Port
		}
		if _, ok := byPort[p]; !ok {
			order = append(order, p)
		}
		byPort[p] = append(byPort[p], i)
	}
	for _, port := range order {
		c.validatePort(ps, port, byPort[port])
	}
}

// validatePort checks the services of one port (indexes into Services).
func (c *Config) validatePort(ps *problems, port int, idx []int) {
	hosts := map[string]int{}
	plain, secure := -1, -1
	for _, i := range idx {
		s := &c.Services[i]
		host := strings.ToLower(s.Host)
		if first, dup := hosts[host]; dup {
			what := fmt.Sprintf("host %q", s.Host)
			if host == "" {
				what = "no host"
			}
			ps.errorf(c.svcKey(i, "host"), "%s has port %d and %s, as %s has: one of them is unreachable",
				c.svcName(ps, i), port, what, c.svcName(ps, first))
		} else {
			hosts[host] = i
		}
		t := c.ServiceTLS(s)
		if t == nil {
			if plain < 0 {
				plain = i
			}
			if secure >= 0 && plain == i {
				c.mixed(ps, port, i, secure, i)
			}
			continue
		}
		if secure < 0 {
			secure = i
			if plain >= 0 {
				c.mixed(ps, port, i, i, plain)
			}
			continue
		}
		if diff := listenerDiff(c.ServiceTLS(&c.Services[secure]), t); diff != "" {
			// Both names: the key path alone leaves the reader counting
			// list entries to find the second service.
			ps.errorf(c.svcKey(i, "tls"), "TLS listener settings (%s) of %s differ from those of %s, which shares port %d: services on one port share one listener",
				diff, c.svcName(ps, i), c.svcName(ps, secure), port)
		}
	}
}

// mixed reports a port shared by a plain-HTTP and a TLS service, at the
// later one (at).
func (c *Config) mixed(ps *problems, port, at, secure, plain int) {
	ps.errorf(c.svcKey(at, ""), "port %d mixes plain HTTP and TLS: %s has TLS, %s has not; put them on different ports",
		port, c.svcName(ps, secure), c.svcName(ps, plain))
}

// listenerDiff names the listener-wide settings in which a and b differ.
func listenerDiff(a, b *TLS) string {
	var diff []string
	if !sameSuites(a.CipherSuites, b.CipherSuites) {
		diff = append(diff, "cipher_suites")
	}
	if a.SessionTicketsDisabled != b.SessionTicketsDisabled {
		diff = append(diff, "session_tickets_disabled")
	}
	if minVersion(a) != minVersion(b) {
		diff = append(diff, "min_version")
	}
	return strings.Join(diff, ", ")
}

func minVersion(t *TLS) string {
	if t.MinVersion == "" {
		return defaultMinTLS
	}
	return t.MinVersion
}

// sameSuites compares suite lists as sets: crypto/tls orders suites itself.
func sameSuites(a, b []CipherSuite) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
