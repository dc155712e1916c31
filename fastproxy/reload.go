package fastproxy

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// Reloading is the slow path beside the request path: it builds every
// port's proxy anew from the new configuration and swaps it in, while the
// listeners and their connections stay as they are.
// A request keeps the proxy it started with to its end; the next request
// on the same kept-alive connection gets the new one.

// RestartRequired is Reload's error when the new configuration changes
// what only a restart applies: the listeners (host, the set of ports,
// which are TLS), the certificates and hosts a TLS port serves, and the
// request limits. Nothing of the configuration was applied.
type RestartRequired struct {
	// Changes name each such key, with its line when it has one.
	Changes []configs.Problem
}

func (e *RestartRequired) Error() string {
	msgs := make([]string, len(e.Changes))
	for i, p := range e.Changes {
		msgs[i] = p.String()
	}
	return "configuration not reloaded, a restart is needed to apply: " + strings.Join(msgs, "; ")
}

// retireDefault is how long a replaced proxy is kept open when the
// configuration sets no shutdown_grace.
const retireDefault = 30 * time.Second

// Reload replaces the services of every port with those of cfg, a
// configuration loaded and validated like the one New got. It is all or
// nothing: when cfg needs a restart (*RestartRequired) or a service cannot
// be built, the running configuration stays and the error says why.
//
// Carried over from the running configuration, by service name, location
// path and backend URL: the request and attempt counters, and which
// backends an active health check has taken out of rotation (they stay
// out until their check passes). Everything else of a location starts
// afresh: passive ejections, circuit breakers, rate-limit buckets,
// least-connections counts and backend connections. The replaced
// configuration's health checks stop at once; its idle backend
// connections are closed once its requests have had shutdown_grace to end.
// New client timeouts apply to the connections accepted after the reload;
// those already open keep the ones they were accepted with.
func (s *Server) Reload(cfg *configs.Config) error {
	if cfg == nil {
		return errors.New("fastproxy: nil configuration")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return errors.New("fastproxy: Server shut down")
	}
	ports, err := edgeGroupPorts(cfg)
	if err != nil {
		return err
	}
	if changes := s.restartOnly(cfg, ports); len(changes) > 0 {
		return &RestartRequired{Changes: changes}
	}
	prev := make(map[int]*proxy, len(s.ports))
	for _, p := range s.ports {
		prev[p.port] = p.proxy.Load()
	}
	built, err := newProxies(cfg, ports, s.opts, prev)
	if err != nil {
		return err
	}
	// restartOnly made sure the ports are the same, in the same order.
	for i, p := range s.ports {
		p.services = ports[i].services
		s.retire(p.proxy.Swap(built[i]), cfg.ShutdownGrace.D())
	}
	if set := newEdgeSettings(cfg); set != *s.accepting {
		// New connections get the new client timeouts; open ones keep
		// the ones they were accepted with.
		s.accepting = &set
		for _, p := range s.ports {
			if el, ok := p.ln.(*edgeListener); ok {
				el.set.Store(&set)
			}
		}
	}
	s.cfg = cfg
	warnUnverifiedBackends(s.log, s.ports)
	return nil
}

// restartOnly lists what cfg changes that Reload cannot apply.
func (s *Server) restartOnly(cfg *configs.Config, ports []*edgePort) []configs.Problem {
	var out []configs.Problem
	add := func(key, msg string) {
		out = append(out, configs.Problem{File: cfg.File, Line: cfg.Positions[key], Key: key, Msg: msg})
	}
	if cfg.Host != s.cfg.Host {
		add("host", fmt.Sprintf("the listeners' address changed from %q to %q", s.cfg.Host, cfg.Host))
	}
	running := make(map[int]*edgePort, len(s.ports))
	for _, p := range s.ports {
		running[p.port] = p
	}
	for _, p := range ports {
		old := running[p.port]
		switch {
		case old == nil:
			add("", fmt.Sprintf("port %d is new: listeners open only at start", p.port))
		case old.tls != p.tls:
			add("", fmt.Sprintf("port %d changes between plain HTTP and TLS", p.port))
		case p.tls && !sameSites(s.cfg, old.services, cfg, p.services):
			add("", fmt.Sprintf("port %d: the TLS services (names, hosts or tls blocks) changed; its certificates are chosen by those at start", p.port))
		}
		delete(running, p.port)
	}
	for _, p := range s.ports {
		if running[p.port] != nil {
			add("", fmt.Sprintf("port %d is no longer configured: listeners close only on shutdown", p.port))
		}
	}
	now, want := s.set, newEdgeSettings(cfg)
	for _, f := range []struct {
		key      string
		old, new int64
	}{
		{"limits.max_header_bytes", int64(now.maxHeaderBytes), int64(want.maxHeaderBytes)},
		{"limits.max_body_bytes", now.maxBodyBytes, want.maxBodyBytes},
	} {
		if f.old != f.new {
			add(f.key, fmt.Sprintf("changed from %d to %d; the request limits are set at start", f.old, f.new))
		}
	}
	return out
}

// sameSites reports whether two lists of a TLS port's services give its
// listener the same certificates for the same names.
func sameSites(aCfg *configs.Config, a []*configs.Service, bCfg *configs.Config, b []*configs.Service) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !strings.EqualFold(a[i].Host, b[i].Host) ||
			!reflect.DeepEqual(aCfg.ServiceTLS(a[i]), bCfg.ServiceTLS(b[i])) {
			return false
		}
	}
	return true
}

// retire stops a replaced proxy's health checks at once (its requests'
// pools keep answering Pick and Done on their last state) and closes the
// rest of it, its idle backend connections, after grace, or at Shutdown
// if that comes first: by then most of its requests have ended and given
// their connections back. A connection given back later is closed by the
// connection pool's idle timeout. Called with s.mu held.
func (s *Server) retire(old *proxy, grace time.Duration) {
	if grace <= 0 {
		grace = retireDefault
	}
	for _, svc := range old.routes.services {
		for _, l := range svc.locations {
			if l.pool != nil {
				l.pool.Close()
			}
		}
	}
	s.retired = append(s.retired, old)
	time.AfterFunc(grace, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, p := range s.retired {
			if p == old {
				s.retired = append(s.retired[:i], s.retired[i+1:]...)
				old.Close()
				return
			}
		}
	})
}

// closeRetired closes the replaced proxies that are still open.
func (s *Server) closeRetired() {
	s.mu.Lock()
	retired := s.retired
	s.retired = nil
	s.mu.Unlock()
	for _, p := range retired {
		p.Close()
	}
}

// service returns p's service named name; nil when p is nil or has none.
func (p *proxy) service(name string) *service {
	if p == nil {
		return nil
	}
	for _, s := range p.routes.services {
		if s.name == name {
			return s
		}
	}
	return nil
}

// location returns s's location of the given path; nil when s is nil or
// has none.
func (s *service) location(prefix []byte) *location {
	if s == nil {
		return nil
	}
	for _, l := range s.locations {
		if string(l.prefix) == string(prefix) {
			return l
		}
	}
	return nil
}

// backend returns l's backend of the given URL; nil when l is nil or has
// none.
func (l *location) backend(url string) *backend {
	if l == nil {
		return nil
	}
	for _, be := range l.backends {
		if be.b.URL.String() == url {
			return be
		}
	}
	return nil
}
