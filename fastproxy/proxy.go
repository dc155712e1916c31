package fastproxy

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/spillway-lb/spillway/balancer"
	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/middleware"
	"github.com/valyala/fasthttp"
)

// proxy serves the services of one listener port. It is built once by
// newProxy and shared by every connection of the port; all its fields are
// read-only after that.
type proxy struct {
	log     *slog.Logger
	plugins Plugins
	routes  routes
	trusted trustedNets
	retry   retryPolicy
	// metrics: count attempts per backend (Options.Metrics).
	metrics bool
}

// pathScratch is one request's scratch space, pooled so that mapping
// paths and writing headers allocates nothing once warm.
type pathScratch struct {
	// uri is a copy of the client's raw request-target (the request's own
	// is overwritten with each attempt's target).
	uri []byte
	// fwd is the request-target that goes on, when it is not uri: uri
	// with its dot segments resolved (target.go), or as a plugin changed
	// it. rewritten tells which.
	fwd       []byte
	rewritten bool
	target    []byte
	xff       []byte
	// upgrade is the protocol list the client asked to switch to, then
	// the one the backend switched to (upgrade.go); empty for nearly
	// every request.
	upgrade []byte
	// noHost: the request reached forwarding without a Host, which each
	// attempt fills in with its backend's.
	noHost bool
	// br is the balancer's view of the request, kept here because Pick
	// may retain its pointer (policies behind an interface), which would
	// move a local to the heap on every request.
	br balancer.Request
}

var scratchPool = sync.Pool{New: func() any { return new(pathScratch) }}

func acquireScratch() *pathScratch { return scratchPool.Get().(*pathScratch) }

func releaseScratch(s *pathScratch) {
	s.uri, s.target, s.xff, s.upgrade, s.noHost = s.uri[:0], s.target[:0], s.xff[:0], s.upgrade[:0], false
	s.fwd, s.rewritten = s.fwd[:0], false
	s.br = balancer.Request{}
	scratchPool.Put(s)
}

// ServeHTTP handles one request from start to finish, in the order of
// net/http/httputil.ReverseProxy: route, redirects, hop-by-hop removal,
// middleware, plugins, forwarding headers and header rules, balancing and
// forwarding (with retries), then the response in reverse.
func (p *proxy) ServeHTTP(ctx *fasthttp.RequestCtx) {
	sc := acquireScratch()
	defer releaseScratch(sc)
	req := &ctx.Request
	sc.uri = append(sc.uri[:0], req.Header.RequestURI()...)
	path, _ := splitRequestURI(sc.uri)
	if hasDotSegment(path) {
		sc.fwd, sc.rewritten = appendCleanTarget(sc.fwd[:0], sc.uri), true
		path, _ = splitRequestURI(sc.fwd)
		req.SetRequestURIBytes(sc.fwd) // what plugins and middleware see
	}
	defer sc.restoreURI(req) // the access log shows what the client sent

	svc := p.routes.match(req.Header.Host())
	if svc == nil {
		writeError(ctx, fasthttp.StatusNotFound, msgNotFound)
		return
	}
	note := noteOf(ctx) // what the access log and metrics get to know
	note.routed(svc)
	if svc.httpRedirect {
		svc.redirectHTTPS(ctx, sc)
		return
	}
	loc := svc.match(path)
	if loc == nil {
		writeError(ctx, fasthttp.StatusNotFound, msgNotFound)
		return
	}
	if loc.redirect != nil && len(path) == 1 && path[0] == '/' {
		redirect(ctx, loc.redirect)
		return
	}

	// Connection: close from the client is remembered before the header
	// goes: the backend connection stays pooled, the client's is closed
	// after this answer, whichever path writes it.
	if req.Header.ConnectionClose() {
		defer ctx.SetConnectionClose()
	}
	// Hop-by-hop headers go before any plugin, middleware or header rule
	// runs, so a client cannot use Connection to delete headers the proxy
	// adds afterwards (X-Forwarded-For and the like). An upgrade asked for
	// is put back at once, so that middleware, plugins and header rules
	// see it as net/http handlers do, and may refuse it by removing
	// Upgrade (upgrade.go).
	hop := requestHopByHop(&req.Header)
	sc.upgrade = upgradeRequested(&req.Header, hop, sc.upgrade)
	stripHopByHop(&req.Header, hop)
	if len(sc.upgrade) > 0 {
		setUpgrade(&req.Header, sc.upgrade)
	}
	peer := peerAddr(ctx)
	var client netip.Addr
	client, sc.xff = p.trusted.client(peer, &req.Header, sc.xff)
	note.from(client)
	if svc.mw != nil && svc.mw.Request(ctx, client) {
		return
	}
	var x Exchange
	if p.plugins != nil && svc.plugins {
		var answered bool
		x, answered = p.plugins.Request(ctx)
		if x != nil {
			defer x.Release()
		}
		if answered {
			svc.respond(ctx)
			return
		}
		sc.takePluginTarget(req)
	}
	sc.xff = p.trusted.setForwarded(&req.Header, peer, ctx.IsTLS(), sc.xff)
	applyHeaderRules(&req.Header, svc.headers.removeRequest, svc.headers.setRequest)
	sc.noHost = len(req.Header.Host()) == 0

	// The backend is asked in HTTP/1.1 on a kept connection whatever the
	// client speaks (RFC 9110, Section 6.2): an HTTP/1.0 client's implicit
	// close is its own, already noted for its answer above, and passed on
	// it would cost a backend connection per request.
	http10 := !req.Header.IsHTTP11()
	if http10 {
		req.Header.SetProtocolBytes(edgeHTTP11)
		req.Header.ResetConnectionClose()
	}

	b, err := p.roundTrip(ctx, loc, client, sc)
	note.sentTo(b)
	// Hooks after this see the client's request-target, Host and version,
	// not the backend's; the server frames the answer by that version.
	req.SetRequestURIBytes(sc.uri)
	if sc.noHost {
		req.Header.SetHostBytes(nil)
	}
	if http10 {
		req.Header.SetProtocolBytes(edgeHTTP10)
	}
	if err != nil {
		p.fail(ctx, loc, b, err, sc)
		svc.respond(ctx)
		return
	}

	switched := ctx.Response.StatusCode() == fasthttp.StatusSwitchingProtocols
	if switched {
		// The transport checked it is one of the protocols asked for.
		sc.upgrade = append(sc.upgrade[:0], ctx.Response.Header.PeekBytes(hdrUpgrade)...)
	}
	stripResponseHopByHop(&ctx.Response.Header)
	if switched {
		setUpgrade(&ctx.Response.Header, sc.upgrade)
	}
	loc.rewriteLocation(ctx, loc.backends[b.Index], sc)
	applyHeaderRules(&ctx.Response.Header, svc.headers.removeResponse, svc.headers.setResponse)
	if x != nil {
		x.Response(ctx) // plugins see the backend's version, as net/http shows it
	}
	if h := &ctx.Response.Header; !bytes.Equal(h.Protocol(), edgeHTTP11) {
		// The answer goes out in the proxy's own version (RFC 9110,
		// Section 6.2), not an HTTP/1.0 backend's: a client must not decode
		// chunked framing under an HTTP/1.0 status line, and it takes one
		// without keep-alive for the end of the connection.
		h.SetProtocol(nil)
	}
	svc.respond(ctx)
	if switched && ctx.Response.StatusCode() != fasthttp.StatusSwitchingProtocols {
		dropSwitch(&ctx.Response)
	}
	loc.pool.Stamp(ctx, b)
}

// respond runs the service's middleware on the answer about to be
// written, whoever wrote it: the backend, a plugin that answered, or the
// proxy's own 502/503/504. Security and CORS headers belong on errors
// too (a browser script cannot read a 502 or a plugin's 401 without
// them), as they are on the middleware's own 429.
func (s *service) respond(ctx *fasthttp.RequestCtx) {
	if s.mw != nil {
		s.mw.Response(ctx)
	}
}

// roundTrip balances and forwards, retrying while the retry policy allows.
// A retry goes to another backend; when there is no other, to the same one
// again (a pooled connection the backend had closed is the usual cause).
// It returns the backend that answered, or the last one tried (nil when
// none could be picked) and the error.
func (p *proxy) roundTrip(ctx *fasthttp.RequestCtx, loc *location, client netip.Addr, sc *pathScratch) (*balancer.Backend, error) {
	streamed, err := p.retry.hold(&ctx.Request)
	if err != nil {
		return nil, err
	}
	br := &sc.br
	*br = balancer.Request{Ctx: ctx, Client: client}
	var last error
	var lastB *balancer.Backend
	for tried := 0; ; tried++ {
		b, err := loc.pool.Pick(br)
		if err == balancer.ErrNoBackend && br.Exclude != nil {
			br.Exclude = nil
			b, err = loc.pool.Pick(br)
		}
		if err != nil {
			if last != nil {
				// Report what the backend did, not that no other was left.
				return lastB, last
			}
			return nil, err
		}
		last, lastB = p.forward(ctx, loc, loc.backends[b.Index], sc), b
		if last == nil {
			return b, nil
		}
		if !p.retry.again(&ctx.Request, streamed, last, tried) {
			return b, last
		}
		p.log.Debug("retrying", "backend", b.Addr, "error", last)
		br.Exclude = b
	}
}

// fail answers a request that could not be forwarded, through statusFor
// and writeError, and logs one line naming the backend.
func (p *proxy) fail(ctx *fasthttp.RequestCtx, loc *location, b *balancer.Backend, err error, sc *pathScratch) {
	status, msg := statusFor(err)
	writeError(ctx, status, msg)
	if status == fasthttp.StatusServiceUnavailable && err == balancer.ErrNoBackend {
		ctx.Response.Header.SetBytesKV(hdrRetryAfter, loc.retryAfter)
	}
	addr := "none"
	if b != nil {
		addr = b.Addr
	}
	if ce := clientFault(err); ce != nil && ce.plugin {
		p.log.Warn("a plugin's request body failed while it was sent", "status", status, "backend", addr,
			"method", string(ctx.Method()), "uri", string(sc.uri), "error", err)
		return
	} else if ce != nil {
		// Not the backend's failure, and common enough on the internet
		// that it is no warning.
		what := "request cannot be forwarded as sent"
		switch {
		case status == fasthttp.StatusRequestEntityTooLarge:
			what = "request body over limits.max_body_bytes"
		case ce.aborted:
			what = "client aborted the request"
		}
		p.log.Info(what, "status", status, "backend", addr,
			"method", string(ctx.Method()), "uri", string(sc.uri), "error", err)
		return
	}
	if balancer.LocalShortage(err) {
		p.log.Warn("proxy out of descriptors or memory; raise its open-files limit (ulimit -n) if this recurs", "status", status,
			"backend", addr, "method", string(ctx.Method()), "uri", string(sc.uri), "error", err)
		return
	}
	p.log.Warn("proxy error", "status", status, "backend", addr,
		"method", string(ctx.Method()), "uri", string(sc.uri), "error", err)
}

// newProxies builds the proxy of every port, or none: on an error the
// ones built are closed. prev, when not nil, holds the proxies being
// replaced, by port, for newProxy.
func newProxies(cfg *configs.Config, ports []*edgePort, opts Options, prev map[int]*proxy) ([]*proxy, error) {
	built := make([]*proxy, 0, len(ports))
	for _, p := range ports {
		px, err := newProxy(cfg, p.services, opts, prev[p.port])
		if err != nil {
			for _, done := range built {
				done.Close()
			}
			return nil, fmt.Errorf("port %d: %w", p.port, err)
		}
		built = append(built, px)
	}
	return built, nil
}

// newProxy builds the handler of one port from the services listening on
// it. cfg has been through configs.Prepare; zero values still get the
// documented defaults here. prev is the proxy it replaces on a reload
// (nil at start), whose health verdicts and counters carry over
// (reload.go).
func newProxy(cfg *configs.Config, services []*configs.Service, opts Options, prev *proxy) (*proxy, error) {
	p := &proxy{log: opts.Logger, plugins: opts.Plugins, retry: newRetryPolicy(cfg.Retry), metrics: opts.Metrics}
	if p.log == nil {
		p.log = slog.Default()
	}
	var err error
	if p.trusted, err = parseTrusted(cfg.TrustedProxies); err != nil {
		return nil, err
	}
	for _, sc := range services {
		svc, err := p.buildService(cfg, sc, prev.service(sc.Name))
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("service %q: %w", sc.Name, err)
		}
		if len(svc.host) == 0 && p.routes.fallback == nil {
			p.routes.fallback = svc
		}
		p.routes.services = append(p.routes.services, svc)
	}
	return p, nil
}

func (p *proxy) buildService(cfg *configs.Config, sc *configs.Service, prev *service) (*service, error) {
	svc := newService(sc)
	if prev != nil {
		svc.requests = prev.requests
	}
	mw, err := middleware.New(cfg.Middleware, sc.Middleware)
	if err != nil {
		return nil, err
	}
	if !mw.Empty() {
		svc.mw = mw
	} else {
		mw.Close()
	}
	for i := range sc.Locations {
		lc := &sc.Locations[i]
		l := newLocation(lc)
		svc.locations = append(svc.locations, l)
		bo := balancer.OptionsFor(cfg, sc, lc)
		bo.Logger = p.log
		prevLoc := prev.location(l.prefix)
		if prevLoc != nil {
			bo.Previous = prevLoc.pool
		}
		backoff := max(time.Second, durationOr(bo.Passive.Backoff, balancer.DefaultBackoff))
		l.retryAfter = strconv.AppendInt(nil, int64(backoff/time.Second), 10)
		if l.pool, err = balancer.New(lc.Backends, bo); err != nil {
			svc.close()
			return nil, fmt.Errorf("location %q: %w", lc.Path, err)
		}
		for i, b := range l.pool.Backends() {
			be, err := newBackend(cfg, l, b, lc.Backends[i], p.log)
			if err != nil {
				svc.close()
				return nil, fmt.Errorf("backend %q: %w", lc.Backends[i].URL, err)
			}
			if pb := prevLoc.backend(b.URL.String()); pb != nil {
				be.attempts = pb.attempts
			}
			l.backends = append(l.backends, be)
		}
	}
	sortLocations(svc.locations)
	return svc, nil
}

// Close stops the port's health checks and middleware janitors and closes
// idle backend connections.
func (p *proxy) Close() {
	for _, s := range p.routes.services {
		s.close()
	}
}

func (s *service) close() {
	if s.mw != nil {
		s.mw.Close()
	}
	for _, l := range s.locations {
		if l.pool != nil {
			l.pool.Close()
		}
		for _, be := range l.backends {
			be.hc.CloseIdleConnections()
		}
	}
}
