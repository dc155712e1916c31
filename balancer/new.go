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
