package fastproxy

import (
	"bytes"
	"io"
	"net"
	"strconv"

	"github.com/spillway-lb/spillway/balancer"
	"github.com/spillway-lb/spillway/fastproxy/metrics"
)

// WriteMetrics writes the server's metrics in Prometheus' text format:
// per port, the answers by status class and their durations (when
// Options.Metrics is set), the open client connections and tunnels; per
// backend of each location, whether it is in rotation and its requests in
// flight. It is the slow path: it takes the connection registries' locks
// and formats as it goes.
func (s *Server) WriteMetrics(w io.Writer) error {
	// Formatted under the lock (Start sets the listeners the port labels
	// read), written after it, so a slow scraper never holds up Shutdown.
	var buf bytes.Buffer
	s.mu.Lock()
	err := s.formatMetrics(&buf)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func (s *Server) formatMetrics(w io.Writer) error {
	mw := metrics.NewWriter(w)
	if s.opts.Metrics {
		mw.Family("spillway_requests_total", "counter", "Answers sent, by listener port and status class.")
		mw.Family("spillway_request_duration_seconds", "histogram", "Time from a request's head to its answer being ready (to its head, for a streamed body).")
		for _, p := range s.ports {
			mw.Requests("spillway", portLabel(p), &p.requests)
		}
		mw.Family("spillway_service_requests_total", "counter", "Answers sent, by service (a request for no service counts at its port only).")
		mw.Family("spillway_service_request_duration_seconds", "histogram", "As spillway_request_duration_seconds, by service.")
		for _, p := range s.ports {
			for _, svc := range p.proxy.Load().routes.services {
				mw.Requests("spillway_service", []metrics.Label{{Name: "service", Value: svc.name}}, svc.requests)
			}
		}
	}
	mw.Family("spillway_connections", "gauge", "Open client connections, by listener port.")
	for _, p := range s.ports {
		mw.Sample("spillway_connections", portLabel(p), float64(p.conns.len()))
	}
	mw.Family("spillway_tunnels", "gauge", "Open upgraded (WebSocket) connections, by listener port.")
	for _, p := range s.ports {
		mw.Sample("spillway_tunnels", portLabel(p), float64(p.tunnels.Load()))
	}
	mw.Family("spillway_backend_up", "gauge", "1 when the backend is in rotation (not marked down by a health check nor ejected), else 0.")
	s.eachBackend(func(l []metrics.Label, be *backend) {
		v := 0.0
		if be.b.Healthy() {
			v = 1
		}
		mw.Sample("spillway_backend_up", l, v)
	})
	mw.Family("spillway_backend_in_flight", "gauge", "Requests and tunnels the backend is serving now.")
	s.eachBackend(func(l []metrics.Label, be *backend) {
		mw.Sample("spillway_backend_in_flight", l, float64(be.b.InFlight()))
	})
	if s.opts.Metrics {
		mw.Family("spillway_backend_attempts_total", "counter", "Forwarding attempts (retries included), by what became of them.")
		s.eachBackend(func(l []metrics.Label, be *backend) {
			for o := range be.attempts {
				mw.Sample("spillway_backend_attempts_total", append(l, metrics.Label{Name: "outcome", Value: outcomeNames[o]}),
					float64(be.attempts[o].Load()))
			}
		})
	}
	return mw.Flush()
}

// outcomeNames label balancer.Outcome values.
var outcomeNames = [...]string{
	balancer.Success:       "success",
	balancer.ConnectFailed: "connect_failed",
	balancer.Failed:        "failed",
	balancer.ServerError:   "server_error",
	balancer.NotSent:       "not_sent",
}

// portLabel names p by the port it listens on (the configured one, or the
// one the system chose for port 0).
// Serving reports whether s has started and neither begun to shut down
// nor been told to Drain: what a readiness probe asks, so that whatever
// balances in front of Spillway stops sending to it first.
func (s *Server) Serving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started && !s.shutdown && !s.draining.Load()
}

// Drain readies s for a shutdown to come: Serving turns false and every
// answer from now on closes its connection, so clients that keep their
// connections open come back through whatever balances in front, which
// sends them elsewhere. s goes on serving until Shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

func portLabel(p *edgePort) []metrics.Label {
	port := p.port
	if p.ln != nil {
		if a, ok := p.ln.Addr().(*net.TCPAddr); ok {
			port = a.Port
		}
	}
	return []metrics.Label{{Name: "port", Value: strconv.Itoa(port)}}
}

// eachBackend calls f for every backend of every location, labeled by
// service, location path and backend address.
func (s *Server) eachBackend(f func(labels []metrics.Label, be *backend)) {
	for _, p := range s.ports {
		for _, svc := range p.proxy.Load().routes.services {
			for _, loc := range svc.locations {
				if loc.pool == nil {
					continue
				}
				for _, b := range loc.pool.Backends() {
					f([]metrics.Label{{Name: "service", Value: svc.name}, {Name: "location", Value: string(loc.prefix)},
						{Name: "backend", Value: b.Addr}}, loc.backends[b.Index])
				}
			}
		}
	}
}
