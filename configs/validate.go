package configs

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// validate reports every problem of c into ps. It reads values as written
// (defaults come after), using ps.pos to tell a written zero from an unset
// field where the two differ.
func (c *Config) validate(ps *problems) {
	checkPort(ps, "port", c.Port, 0)
	if _, err := netip.ParseAddr(c.Host); c.Host != "" && err != nil && strings.ContainsAny(c.Host, " /:@") {
		ps.errorf("host", "%q: expected the address to listen on, such as 127.0.0.1 (empty: all interfaces); the port goes in port", c.Host)
	}
	checkPolicy(ps, "algorithm", c.Algorithm)
	checkHashOptions(ps, "", c.HashKey, c.HashBound, c.StickyCookie)
	checkStickyBase(ps, "", c.StickyBase)
	if len(c.Services) == 0 {
		ps.errorf("", "nothing to serve: write top-level backends, or services with locations")
	}
	for name, p := range c.Plugins {
		nonNegative(ps, join(join("plugins", name), "timeout"), p.Timeout)
	}
	for i, cidr := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			if _, err := netip.ParseAddr(cidr); err != nil {
				ps.errorf(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not an IP address or a CIDR such as 10.0.0.0/8", cidr)
			}
		}
	}
	checkHealth(ps, "health_check", c.HealthCheck)
	checkMiddleware(ps, "middleware", c.Middleware)
	checkTLS(ps, "tls", c.TLS, true)
	c.validateSettings(ps)
	for i := range c.Services {
		c.validateService(ps, i)
	}
	c.validateNames(ps)
	c.validatePorts(ps)
}

// validateNames checks that no two services share a name: logs, -check
// messages and start-up errors name services by it, so a shared name makes
// every one of them ambiguous. Names are compared as written (they are
// labels, not hosts). An unnamed service and the default service made from
// the top-level backends are left out: neither was given a name.
func (c *Config) validateNames(ps *problems) {
	first := map[string]int{}
	for i := range c.Services {
		s := &c.Services[i]
		if s.synth || s.Name == "" {
			continue
		}
		j, dup := first[s.Name]
		if !dup {
			first[s.Name] = i
			continue
		}
		ps.errorf(c.svcKey(i, "name"), "%q is already the name of services[%d]%s: each service needs its own name, which logs and messages go by",
			s.Name, j, lineNote(ps.lineOf(c.svcKey(j, "name"))))
	}
}

// validateSettings checks the global settings of pool, timeouts, limits,
// retry, passive health and log.
func (c *Config) validateSettings(ps *problems) {
	cp := c.ConnectionPool
	nonNegativeInt(ps, "connection_pool.max_idle", cp.MaxIdle)
	nonNegativeInt(ps, "connection_pool.max_open", cp.MaxOpen)
	nonNegative(ps, "connection_pool.idle_timeout", cp.IdleTimeout)
	nonNegative(ps, "connection_pool.queue_timeout", cp.QueueTimeout)
	t := c.Timeouts
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"client_header", t.ClientHeader}, {"client_read", t.ClientRead}, {"client_write", t.ClientWrite},
		{"client_idle", t.ClientIdle}, {"backend_connect", t.BackendConnect}, {"backend_response", t.BackendResponse},
		{"tunnel_idle", t.TunnelIdle},
	} {
		nonNegative(ps, "timeouts."+d.key, d.v)
	}
	nonNegativeInt(ps, "limits.max_header_bytes", c.Limits.MaxHeaderBytes)
	if c.Limits.MaxBodyBytes < 0 {
		ps.errorf("limits.max_body_bytes", "%d is negative (0 means no cap)", c.Limits.MaxBodyBytes)
	}
	if a := c.Retry.Attempts; a != nil {
		nonNegativeInt(ps, "retry.attempts", *a)
	}
	nonNegativeInt(ps, "retry.max_body_bytes", c.Retry.MaxBodyBytes)
	for i, m := range c.Retry.IdempotentMethods {
		if !validToken(m) {
			ps.errorf(fmt.Sprintf("retry.idempotent_methods[%d]", i), "%q is not an HTTP method name", m)
		}
	}
	ph := c.PassiveHealth
	nonNegativeInt(ps, "passive_health.failure_threshold", ph.FailureThreshold)
	nonNegative(ps, "passive_health.backoff", ph.Backoff)
	nonNegative(ps, "passive_health.max_backoff", ph.MaxBackoff)
	if ph.MaxBackoff > 0 && ph.Backoff > ph.MaxBackoff {
		ps.errorf("passive_health.max_backoff", "%s is shorter than backoff (%s)", ph.MaxBackoff, ph.Backoff)
	}
	nonNegative(ps, "shutdown_grace", c.ShutdownGrace)
	nonNegative(ps, "shutdown_delay", c.ShutdownDelay)
	nonNegative(ps, "upgrade_timeout", c.UpgradeTimeout)
	switch strings.ToLower(c.Log.Format) {
	case "", "text", "json":
	default:
		ps.errorf("log.format", "unknown log format %q: expected text or json", c.Log.Format)
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		ps.errorf("log.level", "unknown log level %q: expected debug, info, warn or error", c.Log.Level)
	}
	c.validateAccessLog(ps)
	if l := c.Metrics.Listen; l != "" {
		host, port, err := net.SplitHostPort(l)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			ps.errorf("metrics.listen", "%q: expected host:port, such as 127.0.0.1:9100", l)
		} else if host == "" {
			ps.warnAt(ps.lineOf("metrics.listen"), "metrics.listen", fmt.Sprintf("%q listens on every interface; the metrics name every backend, so keep them off the internet", l))
		}
	}
}

// validateAccessLog checks what opening the access log at start needs: a
// known format and, for a file, a directory it can be created in.
func (c *Config) validateAccessLog(ps *problems) {
	a := c.AccessLog
	switch strings.ToLower(a.Format) {
	case "", "combined", "json":
	default:
		ps.errorf("access_log.format", "unknown access log format %q: expected combined or json", a.Format)
	}
	switch a.Path {
	case "", "stdout", "stderr":
		return
	}
	dir := filepath.Dir(a.Path)
	if st, err := os.Stat(dir); err != nil {
		ps.errorf("access_log.path", "directory %s: %v", dir, unwrapPathError(err))
	} else if !st.IsDir() {
		ps.errorf("access_log.path", "%s is not a directory", dir)
	} else if st, err := os.Stat(a.Path); err == nil && st.IsDir() {
		ps.errorf("access_log.path", "%s is a directory", a.Path)
	}
}

// svcKey names key of service i in messages. The default service made
// from the top-level backends points at the top-level keys it came from.
func (c *Config) svcKey(i int, key string) string {
	if c.Services[i].synth {
		key = strings.TrimPrefix(key, "locations[0].")
		switch {
		case strings.HasPrefix(key, "backends"):
			return key
		case key == "port" && c.Positions["port"] > 0:
			return key
		}
		return "backends"
	}
	return join("services["+strconv.Itoa(i)+"]", key)
}

// lineNote is " (line N)" for messages that point at a second place, or
// "" when the line is unknown (a Config built in code).
func lineNote(line int) string {
	if line <= 0 {
		return ""
	}
	return fmt.Sprintf(" (line %d)", line)
}

// svcName names service i in messages about two services.
func (c *Config) svcName(ps *problems, i int) string {
	s := &c.Services[i]
	where := lineNote(ps.lineOf(c.svcKey(i, "")))
	switch {
	case s.synth:
		return "the default service of the top-level backends" + where
	case s.Name != "":
		return fmt.Sprintf("service %q%s", s.Name, where)
	}
	return fmt.Sprintf("services[%d]%s", i, where)
}

// validateService checks service i and its locations.
func (c *Config) validateService(ps *problems, i int) {
	s := &c.Services[i]
	key := func(k string) string { return c.svcKey(i, k) }
	if !s.synth {
		checkPort(ps, key("port"), s.Port, 1)
		if s.Port == 0 && ps.has(key("port")) {
			ps.errorf(key("port"), "port 0 (an ephemeral port) is only allowed at the top level")
		}
	}
	if s.RedirectPort != 0 {
		checkPort(ps, key("redirect_port"), s.RedirectPort, 1)
	}
	checkHost(ps, key("host"), s.Host)
	if len(s.Locations) == 0 && !s.HTTPRedirect {
		ps.errorf(key(""), "no locations: a service needs at least one location (or http_redirect: true)")
	}
	seen := map[string]int{}
	for j := range s.Locations {
		l := &s.Locations[j]
		lkey := key("locations[" + strconv.Itoa(j) + "]")
		path := l.Path
		if path == "" {
			path = "/"
		}
		if first, dup := seen[path]; dup {
			ps.errorf(join(lkey, "path"), "path %q is already a location of this service: locations[%d]%s",
				path, first, lineNote(ps.lineOf(key("locations["+strconv.Itoa(first)+"]"))))
		} else {
			seen[path] = j
		}
		if !s.synth {
			c.validateLocation(ps, lkey, l)
		}
		for b := range l.Backends {
			checkBackend(ps, key(fmt.Sprintf("locations[%d].backends[%d]", j, b)), &l.Backends[b])
		}
	}
	checkHeaders(ps, key("headers"), s.Headers)
	checkHealth(ps, key("health_check"), s.HealthCheck)
	checkMiddleware(ps, key("middleware"), s.Middleware)
	checkTLS(ps, key("tls"), s.TLS, false)
}

// checkHost checks a service's host: a name alone, or "*." and a domain,
// which routing and the TLS listener match against one label. A '*'
// anywhere else would match no request, silently.
func checkHost(ps *problems, key, host string) {
	switch {
	case strings.ContainsAny(host, " /:@"):
		ps.errorf(key, "%q is not a host name: write the name alone, without port or path", host)
	case strings.Contains(host, "*") && (!strings.HasPrefix(host, "*.") || len(host) == 2 || strings.Contains(host[1:], "*")):
		ps.errorf(key, "%q: a wildcard host is \"*.\" and a domain, such as *.example.com, and matches one label in place of \"*\"", host)
	}
}

// validateLocation checks a written location's own keys.
func (c *Config) validateLocation(ps *problems, key string, l *Location) {
	for _, p := range []struct{ k, v string }{{"path", l.Path}, {"rewrite", l.Rewrite}, {"redirect", l.Redirect}} {
		if p.v != "" && !strings.HasPrefix(p.v, "/") {
			ps.errorf(join(key, p.k), "%q must start with \"/\"", p.v)
		}
	}
	if l.Redirect != "" && l.Path != "" && l.Path != "/" {
		ps.warnAt(ps.lineOf(join(key, "redirect")), join(key, "redirect"),
			"has no effect: redirect answers a request for exactly \"/\" on location \"/\" only")
	}
	checkPolicy(ps, join(key, "lb_policy"), l.LBPolicy)
	checkHashOptions(ps, key, l.HashKey, l.HashBound, l.StickyCookie)
	checkStickyBase(ps, key, l.StickyBase)
	if len(l.Backends) == 0 && l.Redirect == "" {
		ps.errorf(join(key, "backends"), "no backends: a location needs backends unless it only redirects")
	}
}

// checkBackend checks one backend.
func checkBackend(ps *problems, key string, b *Backend) {
	ukey := join(key, "url")
	u, err := url.Parse(b.URL)
	switch {
	case b.URL == "":
		ps.errorf(ukey, "missing: a backend needs a url such as http://127.0.0.1:9000")
	case err != nil:
		ps.errorf(ukey, "%q is not a URL: %v", b.URL, unwrapURLError(err))
	case u.Scheme != "http" && u.Scheme != "https":
		ps.errorf(ukey, "%q: expected an absolute http:// or https:// URL", b.URL)
	case u.Host == "" || u.Hostname() == "":
		ps.errorf(ukey, "%q has no host", b.URL)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		ps.errorf(ukey, "%q has a query or fragment: a backend URL is scheme, host, port and path only", b.URL)
	case u.User != nil:
		ps.errorf(ukey, "%q has user info, which Spillway does not send: set an Authorization header rule instead", b.URL)
	case u.Port() != "":
		if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
			ps.errorf(ukey, "%q: port %s is outside 1..65535", b.URL, u.Port())
		}
	}
	nonNegativeInt(ps, join(key, "weight"), b.Weight)
	nonNegativeInt(ps, join(key, "max_connections"), b.MaxConnections)
	if b.CAFile != "" {
		checkCAFile(ps, join(key, "ca_file"), b.CAFile)
	}
	checkHealth(ps, join(key, "health_check"), b.HealthCheck)
}

// unwrapURLError drops url.Error's repetition of the URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// checkPolicy checks a policy name where one was written.
func checkPolicy(ps *problems, key, name string) {
	if name == "" {
		return
	}
	if _, ok := CanonicalPolicy(name); !ok {
		valid := "; valid policies: "
		if hint := suggest(strings.ReplaceAll(strings.ToLower(name), "_", "-"), Policies); hint != "" {
			valid = hint + " Valid policies: "
		}
		ps.errorf(key, "unknown policy %q%s%s ('_' may stand for '-')", name, valid, strings.Join(Policies, ", "))
	}
}

// checkHashOptions checks hash_key, hash_bound and sticky_cookie beside a
// policy (key is the location, or "" at top level).
func checkHashOptions(ps *problems, key, hashKey string, bound *float64, cookie string) {
	if _, ok := canonicalHashKey(hashKey); hashKey != "" && !ok {
		ps.errorf(join(key, "hash_key"), "%q: expected ip, path, header:NAME or cookie:NAME", hashKey)
	}
	if bound != nil && *bound < 0 {
		ps.errorf(join(key, "hash_bound"), "%v is negative: expected 0 or more (default 0.25)", *bound)
	}
	if cookie != "" && !validToken(cookie) {
		ps.errorf(join(key, "sticky_cookie"), "%q is not a valid cookie name", cookie)
	}
}

// checkStickyBase checks sticky_base beside a policy (key is the location,
// or "" at top level): any policy but sticky-session itself.
func checkStickyBase(ps *problems, key, name string) {
	if name == "" {
		return
	}
	k := join(key, "sticky_base")
	if p, ok := CanonicalPolicy(name); ok && p == "sticky-session" {
		ps.errorf(k, "sticky-session cannot be its own base policy")
		return
	}
	checkPolicy(ps, k, name)
}

// checkHeaders checks a service's header rules.
func checkHeaders(ps *problems, key string, h *Headers) {
	if h == nil {
		return
	}
	for group, m := range map[string]map[string]string{"request_headers": h.RequestHeaders, "response_headers": h.ResponseHeaders} {
		for name, value := range m {
			k := join(join(key, group), name)
			if !validToken(name) {
				ps.errorf(k, "%q is not a valid header name", name)
			} else if !validFieldValue(value) {
				ps.errorf(k, "the value holds a control character (such as a line break), which would split the header")
			}
		}
	}
	for group, list := range map[string][]string{"remove_request_headers": h.RemoveRequestHeaders, "remove_response_headers": h.RemoveResponseHeaders} {
		checkHeaderNames(ps, join(key, group), list, false)
	}
}

// checkHeaderNames checks a list of header names ("*" allowed if star).
func checkHeaderNames(ps *problems, key string, names []string, star bool) {
	for i, name := range names {
		if !validToken(name) && !(star && name == "*") {
			ps.errorf(fmt.Sprintf("%s[%d]", key, i), "%q is not a valid header name", name)
		}
	}
}

// checkHealth checks a written health_check block.
func checkHealth(ps *problems, key string, h *HealthCheck) {
	if h == nil {
		return
	}
	switch strings.ToLower(h.Type) {
	case "", "http", "tcp":
	default:
		ps.errorf(join(key, "type"), "unknown health check type %q: expected http or tcp", h.Type)
	}
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		ps.errorf(join(key, "path"), "%q must start with \"/\"", h.Path)
	}
	for _, d := range []struct {
		k string
		v Duration
	}{{"interval", h.Interval}, {"timeout", h.Timeout}} {
		k := join(key, d.k)
		if d.v < 0 || (d.v == 0 && ps.has(k)) {
			ps.errorf(k, "%s: expected a duration greater than 0", d.v)
		}
	}
	nonNegativeInt(ps, join(key, "thresholds.healthy"), h.Thresholds.Healthy)
	nonNegativeInt(ps, join(key, "thresholds.unhealthy"), h.Thresholds.Unhealthy)
}

// checkPort checks a port number against low..65535.
func checkPort(ps *problems, key string, port, low int) {
	if port < low && !(port == 0 && low == 1) || port > 65535 {
		ps.errorf(key, "port %d is outside %d..65535", port, low)
	}
}

func nonNegative(ps *problems, key string, d Duration) {
	if d < 0 {
		ps.errorf(key, "%s is negative", d)
	}
}

func nonNegativeInt(ps *problems, key string, v int) {
	if v < 0 {
		ps.errorf(key, "%d is negative", v)
	}
}
