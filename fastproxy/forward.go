package fastproxy

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spillway-lb/spillway/balancer"
	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf"
	"github.com/valyala/fasthttp"
)

// backend is the forwarding state of one balancer.Backend: its pooled
// keep-alive client and what path mapping and Location rewriting need.
type backend struct {
	b  *balancer.Backend
	hc *fasthttp.HostClient
	// scheme is "http" or "https", set on each outgoing request's URI so
	// the HostClient's scheme check passes whatever the listener is.
	scheme []byte
	// host is the backend URL's host[:port], the Host of a request whose
	// client sent none.
	host []byte
	// basePath is the backend URL's path without trailing '/'.
	basePath []byte
	// keepPath: the backend URL's path equals the location's, so the
	// request path is sent unchanged.
	keepPath bool
	// attempts counts forwarding attempts by balancer.Outcome, when
	// metrics are on (proxy.metrics); a reload hands them on to the
	// same backend URL at the same service and location.
	attempts *attemptCounts
	// origins are "scheme://host[:port]" spellings a Location header may
	// use to name this backend.
	origins [][]byte
}

// attemptCounts are a backend's forwarding attempts by balancer.Outcome.
type attemptCounts [balancer.NotSent + 1]atomic.Uint64

// backendReadBuffer is the read buffer of backend connections: large enough
// that a 16 KiB answer arrives in one read rather than four.
const backendReadBuffer = 32 << 10

// newBackend builds b's HostClient from the pool and timeout settings.
// Timeouts are idle timeouts enforced by idleConn, so a long transfer that
// keeps moving is never cut.
func newBackend(cfg *configs.Config, l *location, b *balancer.Backend, bc configs.Backend, log *slog.Logger) (*backend, error) {
	u := b.URL
	be := &backend{b: b, scheme: []byte(u.Scheme), host: []byte(u.Host), basePath: []byte(strings.TrimRight(u.Path, "/")),
		attempts: new(attemptCounts)}
	be.keepPath = len(be.basePath) > 0 && bytes.Equal(be.basePath, l.trimmed)
	be.origins = append(be.origins, []byte(u.Scheme+"://"+u.Host), []byte(u.Scheme+"://"+b.Addr))

	connect := durationOr(cfg.Timeouts.BackendConnect, 5*time.Second)
	idle := durationOr(cfg.Timeouts.BackendResponse, 60*time.Second)
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	hc := &fasthttp.HostClient{
		Addr: b.Addr,
		Dial: func(addr string) (net.Conn, error) {
			c, err := dialer.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c, timeout: idle}, nil
		},
		MaxConns:            maxOpen(cfg.ConnectionPool.MaxOpen),
		MaxIdleConnDuration: durationOr(cfg.ConnectionPool.IdleTimeout, 90*time.Second),
		// Retries are the proxy's (on another backend, by its own rules).
		MaxIdemponentCallAttempts: 1,
		// One read takes a whole small answer (head and inline body).
		ReadBufferSize:           backendReadBuffer,
		DisablePathNormalizing:   true,
		NoDefaultUserAgentHeader: true,
	}
	// Responses stream through streamTransport (stream.go), not fasthttp's
	// StreamResponseBody, which allocates per response.
	hc.Transport = newStreamTransport(hc.AcquireConn, hc.ReleaseConn, hc.CloseConn, cfg.ConnectionPool.MaxIdle, log, b.Addr)
	if cfg.ConnectionPool.MaxOpen > 0 {
		// Wait for a free connection rather than fail at once.
		hc.MaxConnWaitTimeout = connect
	}
	if u.Scheme == "https" {
		sni := bc.SNI
		if sni == "" {
			sni = u.Hostname()
		}
		tc, err := tlsconf.Client(bc, sni)
		if err != nil {
			return nil, err
		}
		hc.IsTLS, hc.TLSConfig = true, tc
	}
	be.hc = hc
	return be, nil
}

// maxOpen is fasthttp's MaxConns for connection_pool.max_open. Unset
// means no cap, as documented, while fasthttp's own zero means 512 per
// host: the 513th request in flight to one backend (long downloads, slow
// answers) would get 503 as if the backend were full.
func maxOpen(n int) int {
	if n > 0 {
		return n
	}
	return math.MaxInt32
}

func durationOr(d configs.Duration, def time.Duration) time.Duration {
	if d > 0 {
		return d.D()
	}
	return def
}

// idleConn refreshes its deadline before every read and write, so
// backend_response bounds each pause of a transfer rather than its whole
// length (fasthttp's ReadTimeout would cut a long download).
type idleConn struct {
	net.Conn
	timeout time.Duration
	rd, wd  connDeadline
	// idleSince is when the connection last went back to the pool
	// (coarse unix nanoseconds; 0: in use, or never pooled), for
	// closedWhileIdle.
	idleSince int64
}

func (c *idleConn) Read(p []byte) (int, error) {
	if t, ok := c.rd.due(c.timeout); ok {
		if err := c.Conn.SetReadDeadline(t); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if t, ok := c.wd.due(c.timeout); ok {
		if err := c.Conn.SetWriteDeadline(t); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// forward sends ctx.Request to be once and reads the response head into
// ctx.Response (its body streams later, as the server writes it). It is
// one attempt; the pool learns its outcome before forward returns. The
// request stays counted against the backend (in-flight load,
// max_connections) until its answer is sent: here for an answer read
// whole, when the server closes the body for one that streams.
func (p *proxy) forward(ctx *fasthttp.RequestCtx, l *location, be *backend, s *pathScratch) (err error) {
	// Only the policies that weigh response times need the clock read.
	var start time.Time
	if l.pool.TimesRequests() {
		start = time.Now()
	}
	outcome, streaming := balancer.Failed, false
	defer func() {
		var elapsed time.Duration
		if !start.IsZero() {
			elapsed = time.Since(start)
		}
		l.pool.Observe(&s.br, be.b, outcome, elapsed)
		if outcome != balancer.Streaming && p.metrics {
			be.attempts[outcome].Add(1)
		}
		if !streaming {
			l.pool.Release(be.b)
		}
	}()

	path, query := splitRequestURI(s.forwarded())
	s.target = l.appendTarget(s.target[:0], be, path, query)
	req := &ctx.Request
	req.SetRequestURIBytes(s.target)
	req.URI().SetSchemeBytes(be.scheme)
	// Host goes to the backend exactly as the client sent it, not as
	// fasthttp re-derives it from the parsed URI. A request without one
	// (HTTP/1.0 allows that) cannot be sent as it is: like nginx, the
	// proxy names the backend as its URL does, on each attempt anew.
	req.UseHostHeader = true
	if s.noHost {
		req.Header.SetHostBytes(be.host)
	}
	// The proxy answers the client's Expect itself; the backend gets the body.
	req.Header.DelBytes(hdrExpect)
	// The backend gets the Content-Type the client sent, or none: fasthttp
	// would write application/octet-stream for a sized body without one.
	// (The response side is the server's NoDefaultContentType.)
	req.Header.SetNoDefaultContentType(true)

	err = be.hc.Do(req, &ctx.Response)
	switch {
	case err == nil && ctx.Response.StatusCode() >= 500:
		outcome = balancer.ServerError
	case err == nil:
		outcome = balancer.Success
	case isClientError(err):
		// The client's side failed (most often it went away mid-body):
		// no verdict on the backend.
		outcome = balancer.NotSent
	case balancer.LocalShortage(err):
		// The proxy is out of descriptors or memory, not the backend.
		outcome = balancer.NotSent
	case isConnectError(err):
		outcome = balancer.ConnectFailed
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		// connection_pool.max_open is full: busy, not broken.
		outcome = balancer.NotSent
	}
	if err == nil {
		switch h := ctx.Response.BodyStream().(type) {
		case outcomeHolder:
			streaming = true
			if outcome != balancer.Success {
				h.holdInflight(l.pool, be.b) // a 5xx is judged by its head
				break
			}
			// The answer is judged when its body ends (a backend that
			// breaks off its bodies fails although its heads are fine).
			var counts *attemptCounts
			if p.metrics {
				counts = be.attempts
			}
			h.holdOutcome(l.pool, be.b, counts)
			outcome = balancer.Streaming
		case inflightHolder:
			streaming = true
			h.holdInflight(l.pool, be.b)
		}
	}
	return err
}
