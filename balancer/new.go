package balancer

import (
	"fmt"
	"net"
	"net/url"

	"github.com/spillway-lb/spillway/configs"
)

// Options are the settings of one Pool beyond its backends.
type Options struct {
	// Policy is a name from configs.Policies ('-' or '_'); empty means round-robin.
	Policy string
}

// New builds the pool of one location. Backends are validated by the
// configs package before; New reports what it still cannot use.
func New(backends []configs.Backend, opts Options) (*Pool, error) {
	p := &Pool{}
	for i, bc := range backends {
		u, err := url.Parse(bc.URL)
		if err != nil {
			return nil, fmt.Errorf("backend %q: %w", bc.URL, err)
		}
		addr := u.Host
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" {
				port = "443"
			}
			addr = net.JoinHostPort(u.Hostname(), port)
		}
		w := bc.Weight
		if w < 1 {
			w = 1
		}
		p.backends = append(p.backends, &Backend{URL: u, Addr: addr, Weight: w, MaxConns: int64(bc.MaxConnections), Index: i})
	}
	return p, nil
}

// OptionsFor gathers a location's pool settings from the configuration:
// its policy (or the global algorithm) and policy options, and the most
// specific health check among global, service and backend.
func OptionsFor(cfg *configs.Config, svc *configs.Service, loc *configs.Location) Options {
	policy := loc.LBPolicy
	if policy == "" {
		policy = cfg.Algorithm
	}
	return Options{Policy: policy}
}
