package fastproxy

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/accesslog"
	"github.com/spillway-lb/spillway/fastproxy/metrics"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf"
	"github.com/valyala/fasthttp"
)

// Options are the parts of a Server that do not come from the configuration.
type Options struct {
	// Logger receives every log line; nil means slog.Default().
	Logger *slog.Logger
	// Plugins runs the plugin chain; nil means no plugins.
	Plugins Plugins
	// AccessLog, if not nil, gets one entry per answered request (see
	// edgeHandler.logAccess). The caller opens, reopens and closes it.
	AccessLog *accesslog.Log
	// Metrics turns on the counters WriteMetrics reports.
	Metrics bool
	// Listen opens each port's socket; nil means net.Listen. A process
	// that takes over from another (cmd/spillway's upgrade) passes one
	// that returns the sockets it inherited, so that no connection
	// waiting to be accepted is refused or lost between the two.
	Listen func(network, address string) (net.Listener, error)
}

// Server is Spillway's proxy: one fasthttp server per configured port, each
// with its own listener (TLS when the port's services have TLS) in front of
// the proxy of the services on that port.
//
// Every port enforces the edge rules of the configuration: the client
// timeouts (timeouts.client_header, client_read, client_write, client_idle)
// as limits on stalls, never on transfers that keep moving; the request
// limits (limits.max_header_bytes, max_body_bytes); strict HTTP/1.1 framing
// (RFC 9112), refusing with 400 and closing the connection rather than
// guessing; and recovery from panics while handling a request (500).
//
// A Server is started once and shut down once; its methods are safe for
// concurrent use.
type Server struct {
	cfg  *configs.Config
	opts Options
	log  *slog.Logger
	set  edgeSettings

	// wrap, when set before Start, wraps every port's proxy handler inside
	// the edge (so panics and framing rules apply to it). Tests use it to
	// inject handlers; it is nil in production.
	wrap func(fasthttp.RequestHandler) fasthttp.RequestHandler

	mu sync.Mutex
	// accepting is what connections accepted from now on get: set, or
	// the timeouts of a reload (the limits are set's).
	accepting *edgeSettings
	ports     []*edgePort // ascending configured port
	retired   []*proxy    // replaced by Reload, not closed yet (reload.go)
	started   bool
	shutdown  bool
	serving   sync.WaitGroup
	// draining: Drain was called; every answer closes its connection.
	draining atomic.Bool
}

// edgePort is one listener port and what serves it.
type edgePort struct {
	port     int
	services []*configs.Service
	tls      bool
	// proxy serves the port's requests. Reload swaps it; each request
	// loads it once and keeps the one it got until it ends.
	proxy atomic.Pointer[proxy]

	srv   *fasthttp.Server
	ln    net.Listener // an *edgeListener once open
	tlsLn *tlsconf.Listener
	conns edgeConnRegistry
	// closing counts the close-delimited answers still being written
	// (http10.go): fasthttp's shutdown no longer sees their connections.
	// A connection holds its count until the answer is written or it
	// closes (edgeConn.holdShutdown).
	closing sync.WaitGroup
	// streams counts the streamed answers not yet recorded in the access
	// log and the metrics (edge_streamed.go), which shutdown gives a
	// moment to record themselves once their connections are cut.
	streams sync.WaitGroup
	// edge is the handler of srv, which the port's connections name.
	edge *edgeHandler
	// requests and tunnels are the port's counters, for WriteMetrics.
	requests metrics.Requests
	tunnels  atomic.Int64
}

// New builds a Server from a loaded, validated configuration: it groups the
// services by port and builds each port's proxy. It opens nothing; Start
// does. Timeouts and limits left zero take their documented defaults.
func New(cfg *configs.Config, opts Options) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("fastproxy: nil configuration")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, opts: opts, log: opts.Logger, set: newEdgeSettings(cfg)}
	s.accepting = &s.set
	ports, err := edgeGroupPorts(cfg)
	if err != nil {
		return nil, err
	}
	built, err := newProxies(cfg, ports, opts, nil)
	if err != nil {
		return nil, err
	}
	for i, p := range ports {
		p.proxy.Store(built[i])
	}
	s.ports = ports
	warnUnverifiedBackends(s.log, ports)
	return s, nil
}

// warnUnverifiedBackends logs every https backend with skip_tls_verify, once,
// through the server's logger: such a connection is open to interception,
// so the warning belongs in the logs the operator reads, in the format and
// level they configured (tlsconf.Client, which builds the connection's
// settings, does not log).
func warnUnverifiedBackends(log *slog.Logger, ports []*edgePort) {
	for _, p := range ports {
		for _, svc := range p.services {
			for i := range svc.Locations {
				for _, b := range svc.Locations[i].Backends {
					if u, err := url.Parse(b.URL); b.SkipTLSVerify && err == nil && u.Scheme == "https" {
						log.Warn("skip_tls_verify: the backend's certificate is not verified",
							"service", svc.Name, "backend", b.URL)
					}
				}
			}
		}
	}
}

// edgeGroupPorts sorts the services into ports, ascending. The top-level
// backends become a service named "default" unless the configuration
// already has one (configs.Prepare makes it). A port's services are all
// TLS or all plain (configs.Config.ServiceTLS decides which).
func edgeGroupPorts(cfg *configs.Config) ([]*edgePort, error) {
	services := make([]*configs.Service, 0, len(cfg.Services)+1)
	hasDefault := false
	for i := range cfg.Services {
		services = append(services, &cfg.Services[i])
		hasDefault = hasDefault || cfg.Services[i].Name == "default"
	}
	if !hasDefault && len(cfg.Backends) > 0 {
		services = append(services, &configs.Service{
			Name:      "default",
			Port:      cfg.Port,
			Locations: []configs.Location{{Path: "/", Backends: cfg.Backends}},
		})
	}
	byPort := map[int]*edgePort{}
	var ports []*edgePort
	for _, svc := range services {
		p := byPort[svc.Port]
		isTLS := cfg.ServiceTLS(svc) != nil
		if p == nil {
			p = &edgePort{port: svc.Port, tls: isTLS}
			byPort[svc.Port] = p
			ports = append(ports, p)
		} else if p.tls != isTLS {
			return nil, fmt.Errorf("port %d: service %q and service %q disagree on tls", svc.Port, p.services[0].Name, svc.Name)
		}
		p.services = append(p.services, svc)
	}
	if len(ports) == 0 {
		return nil, errors.New("fastproxy: no service to serve (no backends and no services)")
	}
	slices.SortFunc(ports, func(a, b *edgePort) int { return cmp.Compare(a.port, b.port) })
	return ports, nil
}

// Start opens every port's listener on cfg.Host (empty: all interfaces;
// port 0: an ephemeral port) and serves in the background. If a port cannot
// be opened, the ones already open are closed and the error returned.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.shutdown {
		return errors.New("fastproxy: Server already started or shut down")
	}
	s.started = true
	for _, p := range s.ports {
		if err := s.open(p); err != nil {
			s.closeOpened()
			s.started = false // nothing is serving: Shutdown only closes the proxies
			return fmt.Errorf("port %d: %w", p.port, err)
		}
	}
	for _, p := range s.ports {
		s.serving.Add(1)
		go s.serve(p)
	}
	return nil
}

// open builds a port's fasthttp server and opens its listener.
func (s *Server) open(p *edgePort) error {
	p.srv = s.newFastServer(p)
	var tlsCfg *tls.Config
	if p.tls {
		sites := make([]tlsconf.Site, len(p.services))
		for i, svc := range p.services {
			sites[i] = tlsconf.Site{Name: svc.Name, Host: svc.Host, TLS: s.cfg.ServiceTLS(svc)}
		}
		l, err := tlsconf.NewListener(p.port, sites, s.log)
		if err != nil {
			return err
		}
		p.tlsLn, tlsCfg = l, l.Config()
	}
	listen := s.opts.Listen
	if listen == nil {
		listen = net.Listen
	}
	ln, err := listen("tcp", net.JoinHostPort(s.cfg.Host, strconv.Itoa(p.port)))
	if err != nil {
		return err
	}
	el := &edgeListener{Listener: ln, reg: &p.conns, tls: tlsCfg, acc: acceptRetry{log: s.log}, edge: p.edge}
	el.set.Store(s.accepting)
	p.ln = el
	return nil
}

// newFastServer configures fasthttp for a port. Its own ReadTimeout,
// WriteTimeout and IdleTimeout stay zero: they bound whole operations, and
// the edge's connections arm stall-based deadlines instead (conn_deadline.go).
func (s *Server) newFastServer(p *edgePort) *fasthttp.Server {
	var next fasthttp.RequestHandler = func(ctx *fasthttp.RequestCtx) { p.proxy.Load().ServeHTTP(ctx) }
	if s.wrap != nil {
		next = s.wrap(next)
	}
	h := &edgeHandler{next: next, log: s.log, set: &s.set, flushEach: s.opts.Plugins != nil, closing: &p.closing,
		streams: &p.streams, access: s.opts.AccessLog, tunnels: &p.tunnels, draining: &s.draining}
	if s.opts.Metrics {
		h.requests = &p.requests
	}
	p.edge = h
	return &fasthttp.Server{
		Handler:       h.serve,
		ErrorHandler:  h.readFailed,
		ExpectHandler: h.expect,
		ConnState:     edgeConnState,
		Logger:        edgeFastLogger{log: s.log},

		// A head larger than the read buffer fails with ErrSmallBuffer,
		// answered 431, so the buffer is the head limit.
		ReadBufferSize: s.set.maxHeaderBytes,
		// The client's answer (head and an inline body up to
		// inlineBodyMax) leaves in one write; the default 4 KiB would
		// split a 16 KiB answer into several.
		WriteBufferSize:    edgeWriteBuffer,
		MaxRequestBodySize: s.set.fasthttpBodyLimit(),
		StreamRequestBody:  true,
		// Pre-parsing multipart forms would buffer uploads in memory and
		// temporary files instead of streaming them to the backend.
		DisablePreParseMultipartForm: true,

		NoDefaultServerHeader: true,
		// The backend's Content-Type (or its absence) is passed on as is.
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
		SecureErrorLogMessage: true,
		// A connection waiting for its next request gives its write
		// buffer and request context back (fasthttp keeps the read buffer
		// when bodies stream): idle keep-alive connections, which clients
		// keep by the thousand, held 54 KiB each after a 16 KiB answer and
		// hold 17 KiB (RSS). Same-run A/B on one core showed no cost per
		// request.
		ReduceMemoryUsage: true,
	}
}

// serve runs a port's fasthttp server until its listener closes.
func (s *Server) serve(p *edgePort) {
	defer s.serving.Done()
	if err := p.srv.Serve(p.ln); err != nil {
		s.log.Error("listener stopped", "port", p.port, "error", err)
	}
}

// closeOpened closes the listeners and TLS state Start opened so far.
func (s *Server) closeOpened() {
	for _, p := range s.ports {
		if p.ln != nil {
			p.ln.Close()
		}
		if p.tlsLn != nil {
			p.tlsLn.Close()
		}
		p.ln, p.tlsLn, p.srv = nil, nil, nil
	}
}

// Addrs returns the bound listener addresses, ordered by configured port.
// It is nil before Start.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, p := range s.ports {
		if p.ln != nil {
			out = append(out, p.ln.Addr())
		}
	}
	return out
}

// Shutdown stops accepting on every port, lets requests in flight finish
// until ctx ends (the caller bounds it with shutdown_grace), then closes the
// connections still open and every port's proxy and TLS state. Responses
// finished during shutdown carry "Connection: close". It returns ctx's
// error when it had to cut requests short. Calling it again does nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return nil
	}
	s.shutdown = true
	started := s.started
	s.mu.Unlock()

	var err error
	if started {
		err = s.drain(ctx)
	}
	for _, p := range s.ports {
		p.proxy.Load().Close()
		if p.tlsLn != nil {
			p.tlsLn.Close()
		}
	}
	s.closeRetired()
	return err
}

// streamRecordWait bounds how long shutdown waits for the streamed
// answers it cut to be recorded.
const streamRecordWait = time.Second

// waitCtx waits for wg, or until ctx ends.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// drain stops the listeners and waits for the ports' connections.
func (s *Server) drain(ctx context.Context) error {
	for _, p := range s.ports {
		// Closing the listener ourselves also covers a Serve that has not
		// registered it with fasthttp yet.
		p.ln.Close()
	}
	errs := make([]error, len(s.ports))
	var wg sync.WaitGroup
	for i, p := range s.ports {
		wg.Go(func() { errs[i] = p.srv.ShutdownWithContext(ctx) })
	}
	wg.Wait()
	// The serving goroutines are done, so no close-delimited answer starts
	// now; those under way get what is left of the grace period.
	for _, p := range s.ports {
		wg.Go(func() { waitCtx(ctx, &p.closing) })
	}
	wg.Wait()
	cut := 0
	for _, p := range s.ports {
		cut += p.conns.closeAll()
	}
	if cut > 0 {
		s.log.Warn("shutdown grace period ended; closed the connections still open", "connections", cut)
		// A streamed answer cut now is recorded when its writer sees the
		// closed connection: wait a little for those lines, so that the
		// access log, closed after Shutdown, has them. One whose backend
		// is stalled may take longer and is left.
		bounded, cancel := context.WithTimeout(context.Background(), streamRecordWait)
		for _, p := range s.ports {
			waitCtx(bounded, &p.streams)
		}
		cancel()
	}
	s.serving.Wait()
	if ctx.Err() != nil && cut > 0 {
		return ctx.Err()
	}
	for _, e := range errs {
		if e != nil && !errors.Is(e, net.ErrClosed) && !errors.Is(e, ctx.Err()) {
			return e
		}
	}
	return nil
}
