package fastproxy

import (
	"bytes"
	"sort"
	"strconv"
	"strings"

	"github.com/spillway-lb/spillway/balancer"
	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/metrics"
	"github.com/spillway-lb/spillway/fastproxy/middleware"
)

// service is one virtual host of a port, prepared for matching.
type service struct {
	name string
	// host is the configured Host, lower case; empty for the port's default.
	host []byte
	// wildcard: host is "*.domain", matching one label in place of "*".
	wildcard bool
	// redirectPort is ":PORT" for http_redirect, or empty for 443.
	httpRedirect bool
	redirectPort []byte
	// locations are sorted longest path first, so the first match is the
	// longest matching prefix.
	locations []*location
	mw        *middleware.Chain // nil when the chain is empty
	headers   headerRules
	plugins   bool
	// requests counts the service's answers, when metrics are on; a
	// reload hands the counters on to the service of the same name.
	requests *metrics.Requests
}

// location is a path prefix of a service and the backends serving it.
type location struct {
	// prefix is the configured path; trimmed is it without trailing '/'.
	prefix, trimmed []byte
	// rewrite replaces trimmed when forwarding (trailing '/' removed); nil: none.
	rewrite []byte
	// redirect answers exactly "/" with 301 here (location "/" only).
	redirect []byte
	pool     *balancer.Pool
	// retryAfter is the Retry-After of a 503 when every backend is down:
	// the pool's first ejection back-off, in seconds.
	retryAfter []byte
	// backends is indexed by balancer.Backend.Index.
	backends []*backend
}

// routes is a port's routing table.
type routes struct {
	services []*service
	fallback *service // the service with no host, or nil
}

// match finds the service for a Host header value: case-insensitive, any
// port removed. An exact host wins, then a "*.domain" host matching one
// label (as the TLS listener picks certificates by SNI, so a request is
// served by the service whose certificate it got), then the port's default
// service.
func (r *routes) match(host []byte) *service {
	host = stripPort(host)
	if n := len(host); n > 1 && host[n-1] == '.' {
		// "shop.example.com." is the same name, fully qualified; the TLS
		// listener drops the dot from SNI too.
		host = host[:n-1]
	}
	var wild *service
	for _, s := range r.services {
		switch {
		case len(s.host) == 0:
		case s.wildcard:
			if wild == nil && matchWildcard(host, s.host[1:]) {
				wild = s
			}
		case equalFoldASCII(host, s.host):
			return s
		}
	}
	if wild != nil {
		return wild
	}
	return r.fallback
}

// matchWildcard reports whether host is one non-empty label followed by
// suffix (".domain", lower case): "*.example.com" matches a.example.com,
// not example.com nor a.b.example.com (RFC 6125 §6.4.3).
func matchWildcard(host, suffix []byte) bool {
	n := len(host) - len(suffix)
	return n > 0 && equalFoldASCII(host[n:], suffix) && bytes.IndexByte(host[:n], '.') < 0
}

// stripPort removes ":port" from a Host value, keeping IPv6 brackets intact.
func stripPort(host []byte) []byte {
	i := bytes.LastIndexByte(host, ':')
	if i < 0 || bytes.IndexByte(host[i:], ']') >= 0 {
		return host
	}
	return host[:i]
}

// equalFoldASCII compares a with lower, which is already lower case.
func equalFoldASCII(a, lower []byte) bool {
	if len(a) != len(lower) {
		return false
	}
	for i, c := range a {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// match returns the location with the longest prefix of path, or nil.
// Location "/api/" also matches "/api" itself.
func (s *service) match(path []byte) *location {
	for _, l := range s.locations {
		if l.holds(path) {
			return l
		}
	}
	return nil
}

// holds reports whether path is within l.
func (l *location) holds(path []byte) bool {
	return bytes.HasPrefix(path, l.prefix) || bytes.Equal(path, l.trimmed)
}

// newService prepares svc's host, locations and rules; pools and backends
// are added by the caller.
func newService(svc *configs.Service) *service {
	host := strings.ToLower(svc.Host)
	s := &service{
		name:         svc.Name,
		host:         []byte(host),
		wildcard:     strings.HasPrefix(host, "*.") && len(host) > 2,
		httpRedirect: svc.HTTPRedirect,
		headers:      newHeaderRules(svc.Headers),
		plugins:      !svc.PluginDisabled,
		requests:     new(metrics.Requests),
	}
	if svc.RedirectPort != 0 && svc.RedirectPort != 443 {
		s.redirectPort = []byte(":" + strconv.Itoa(svc.RedirectPort))
	}
	return s
}

func newLocation(loc *configs.Location) *location {
	path := loc.Path
	if path == "" {
		path = "/"
	}
	l := &location{prefix: []byte(path), trimmed: []byte(strings.TrimRight(path, "/"))}
	if loc.Rewrite != "" {
		l.rewrite = []byte(strings.TrimRight(loc.Rewrite, "/"))
	}
	if loc.Redirect != "" && path == "/" {
		l.redirect = []byte(loc.Redirect)
	}
	return l
}

func sortLocations(ls []*location) {
	sort.SliceStable(ls, func(i, j int) bool { return len(ls[i].prefix) > len(ls[j].prefix) })
}

// splitRequestURI splits a raw request-target into its path and its query
// (with the '?'), dropping scheme and authority of the absolute form. The
// query is never decoded, so it reaches the backend byte for byte.
func splitRequestURI(uri []byte) (path, query []byte) {
	if len(uri) > 0 && uri[0] != '/' {
		if i := bytes.Index(uri, []byte("://")); i >= 0 {
			rest := uri[i+3:]
			if j := bytes.IndexAny(rest, "/?"); j >= 0 {
				uri = rest[j:]
			} else {
				uri = nil
			}
		}
	}
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i:]
	}
	return uri, nil
}

// appendTarget appends the request-target sent to b for path and query
// matched on l, as Terraster maps it: l's prefix is replaced by the
// backend URL's own path (then the rewrite, when set); nothing is
// replaced when the backend's path is the location's path. A path a
// plugin moved outside l goes whole after the backend's path.
func (l *location) appendTarget(dst []byte, b *backend, path, query []byte) []byte {
	switch {
	case b.keepPath:
		dst = append(dst, path...)
	case !l.holds(path):
		dst = append(dst, b.basePath...)
		dst = append(dst, path...)
	default:
		rest := path[min(len(l.trimmed), len(path)):]
		dst = append(dst, b.basePath...)
		dst = append(dst, l.rewrite...)
		if len(rest) == 0 || rest[0] != '/' {
			dst = append(dst, '/')
		}
		dst = append(dst, rest...)
	}
	if len(dst) == 0 {
		dst = append(dst, '/')
	}
	return append(dst, query...)
}
