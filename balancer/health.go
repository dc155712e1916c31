package balancer

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// Defaults of an active health check, for zero fields of configs.HealthCheck.
const (
	defaultCheckPath      = "/health"
	defaultCheckInterval  = 10 * time.Second
	defaultCheckTimeout   = 2 * time.Second
	defaultCheckHealthy   = 2
	defaultCheckUnhealthy = 3
)

// check is one backend's active health check, resolved from its
// configuration with defaults applied.
type check struct {
	tcp       bool
	url       string // http(s) checks
	addr      string // tcp checks
	interval  time.Duration
	timeout   time.Duration
	healthy   int
	unhealthy int
	client    *http.Client
}

// newCheck resolves hc for b. skipVerify (the check's or the backend's
// skip_tls_verify) accepts any certificate from an https backend.
func newCheck(b *Backend, hc *configs.HealthCheck, skipVerify bool) (*check, error) {
	c := &check{
		addr:      b.Addr,
		interval:  hc.Interval.D(),
		timeout:   hc.Timeout.D(),
		healthy:   hc.Thresholds.Healthy,
		unhealthy: hc.Thresholds.Unhealthy,
	}
	if c.interval <= 0 {
		c.interval = defaultCheckInterval
	}
	if c.timeout <= 0 {
		c.timeout = min(defaultCheckTimeout, c.interval)
	}
	if c.healthy <= 0 {
		c.healthy = defaultCheckHealthy
	}
	if c.unhealthy <= 0 {
		c.unhealthy = defaultCheckUnhealthy
	}
	switch strings.ToLower(hc.Type) {
	case "tcp":
		c.tcp = true
		return c, nil
	case "", "http", "https":
	default:
		return nil, fmt.Errorf("health_check type %q: want http or tcp", hc.Type)
	}
	path := hc.Path
	if path == "" {
		path = defaultCheckPath
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	// The backend's own path prefixes every forwarded path, so it
	// prefixes the check's too: http://h/app checks http://h/app/health.
	c.url = b.URL.Scheme + "://" + b.URL.Host + strings.TrimSuffix(b.URL.EscapedPath(), "/") + path
	c.client = &http.Client{
		Timeout: c.timeout,
		Transport: &http.Transport{
			// A fresh connection per check also checks that the backend
			// still accepts connections.
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: skipVerify},
		},
		// A redirect answer is a live backend; do not follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// probe runs one check: an http answer below 400, or a tcp connection.
func (c *check) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.tcp {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 400 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// runCheck probes b every interval, starting at once, until ctx ends:
// `unhealthy` consecutive failures take it out of rotation, `healthy`
// consecutive passes bring it back. It runs in its own goroutine, so a
// slow backend never delays a request.
func (p *Pool) runCheck(ctx context.Context, b *Backend, c *check) {
	defer p.wg.Done()
	t := time.NewTicker(c.interval)
	defer t.Stop()
	passes, fails := 0, 0
	for {
		err := c.probe(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			passes, fails = passes+1, 0
		case LocalShortage(err):
			// The proxy could not open a socket: no verdict either way.
		default:
			passes, fails = 0, fails+1
		}
		switch down := b.down.Load(); {
		case down && passes >= c.healthy:
			p.setDown(b, false, nil)
		case !down && fails >= c.unhealthy:
			p.setDown(b, true, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setDown records an active check's verdict and rebuilds the rotation.
func (p *Pool) setDown(b *Backend, down bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	b.down.Store(down)
	p.rebuild()
	if down {
		p.log.Warn("backend down", "backend", b.raw, "error", err)
	} else {
		p.log.Info("backend up", "backend", b.raw)
	}
}

// startChecks starts the active checks configured in checks (nil entries
// have none); Close stops them.
func (p *Pool) startChecks(checks []*check) {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	for i, c := range checks {
		if c != nil {
			p.wg.Add(1)
			go p.runCheck(ctx, p.backends[i], c)
		}
	}
}

// inheritDown marks down, before any check of p runs, each backend that
// has a check in checks and whose URL prev's active check had marked down.
func (p *Pool) inheritDown(prev *Pool, checks []*check) {
	down := map[string]bool{}
	for _, b := range prev.backends {
		if b.down.Load() {
			down[b.raw] = true
		}
	}
	for i, b := range p.backends {
		if checks[i] != nil && down[b.raw] {
			b.down.Store(true)
		}
	}
}
