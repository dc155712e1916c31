package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/fastproxy/accesslog"
	"github.com/spillway-lb/spillway/pluginhost"
)

// processStart is when this process started, as near as Go can tell.
var processStart = time.Now()

// process is what serve needs besides the configuration.
type process struct {
	file  string   // the configuration's path, reloaded on SIGHUP
	demo  bool     // serving the embedded demo
	args  []string // the command line, given again to an upgrade's successor
	socks *sockets // every listening socket, inherited or opened here
	pid   pidFile
}

// serve runs until SIGTERM/SIGINT, or until a process an upgrade started
// serves, then shuts down within shutdown_grace.
func serve(cfg *configs.Config, p process, log *slog.Logger, stdout io.Writer) error {
	if p.demo {
		stop, err := startDemoOrigins(log)
		if err != nil {
			return err
		}
		defer stop()
	}

	host, err := pluginhost.Load(cfg, log)
	if err != nil {
		return err
	}
	opts := fastproxy.Options{Logger: log, Listen: p.socks.listen}
	if host.Len() > 0 {
		opts.Plugins = host
	}
	if path := cfg.AccessLog.Path; path != "" {
		al, err := accesslog.Open(path, cfg.AccessLog.Format, func(err error) {
			log.Error("access log: lines lost", "path", path, "err", err)
		})
		if err != nil {
			closePlugins(host, cfg.ShutdownGrace.D(), log)
			return fmt.Errorf("access_log.path: %w", err)
		}
		// Closed last, so that the answers of the shutdown are in it.
		defer al.Close()
		opts.AccessLog = al
	}
	opts.Metrics = cfg.Metrics.Listen != ""
	srv, err := fastproxy.New(cfg, opts)
	if err != nil {
		closePlugins(host, cfg.ShutdownGrace.D(), log)
		return err
	}

	// Subscribe before listening, so a signal that arrives as soon as the
	// port opens is not lost. SIGHUP, SIGUSR1 and SIGUSR2 are caught too:
	// by default any of them would end the process at once, dropping
	// every request in flight, and operators and tools (systemctl reload,
	// logrotate) send them expecting a reload, a reopened log or an
	// upgrade.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sig)

	stopMetrics := func() {}
	if opts.Metrics {
		stopMetrics, err = serveMetrics(cfg.Metrics.Listen, srv, p.socks.listen, log)
		if err != nil {
			closePlugins(host, cfg.ShutdownGrace.D(), log)
			return fmt.Errorf("metrics.listen: %w", err)
		}
		defer stopMetrics()
	}
	if err := srv.Start(); err != nil {
		closePlugins(host, cfg.ShutdownGrace.D(), log)
		return err
	}
	for _, a := range srv.Addrs() {
		log.Info("listening", "addr", a.String(), "plugins", host.Len(), "version", version)
	}
	if err := started(p, log); err != nil {
		shutdown(srv, host, cfg.ShutdownGrace.D(), log)
		return err
	}
	defer p.pid.remove()

	if p.demo {
		fmt.Fprintln(stdout, "Spillway demo is up. Try:\n  curl -i http://127.0.0.1:8080/\n  curl -i http://127.0.0.1:8080/api/hello")
	}

	// SIGHUP and SIGUSR1 are answered and waited past, before the stop
	// signal and during shutdown_delay alike; SIGUSR2 only before.
	var (
		stopping bool
		up       *successor // an upgrade's new process, until it serves or fails
	)
	other := func(s os.Signal) bool {
		switch s {
		case syscall.SIGHUP:
			cfg = reload(srv, host, cfg, p.file, p.demo, log)
		case syscall.SIGUSR1:
			reopenAccessLog(opts.AccessLog, cfg.AccessLog.Path, log)
		case syscall.SIGUSR2:
			if stopping {
				log.Warn("SIGUSR2: shutting down; no upgrade")
				break
			}
			up = upgrade(up, p, cfg.UpgradeTimeout.D(), log)
		default:
			return false
		}
		return true
	}
	var (
		s          os.Signal
		handedOver bool
	)
	for s == nil {
		select {
		case got := <-sig:
			if !other(got) {
				s = got
			}
		case err := <-up.result():
			if err != nil {
				log.Error("SIGUSR2: upgrade failed; this process goes on serving", "new_pid", up.pid(), "err", err)
				up = nil
				if err := p.pid.write(); err != nil { // the failed one may have taken it
					log.Error("pid file not rewritten", "path", string(p.pid), "err", err)
				}
				continue
			}
			s, handedOver = syscall.SIGUSR2, true
		}
	}
	stopping = true

	switch {
	case handedOver:
		// The ports go on being served by the new process, from the same
		// sockets: no shutdown_delay, and /ready is its to answer.
		log.Info("SIGUSR2: the new process serves; this one shuts down", "new_pid", up.pid())
		notifySystemd(fmt.Sprintf("MAINPID=%d", up.pid()), log)
		stopMetrics()
	case up != nil:
		log.Info("stop signal during an upgrade: the new process is stopped too", "signal", s.String(), "new_pid", up.pid())
		up.stop()
		fallthrough
	default:
		if d := cfg.ShutdownDelay.D(); d > 0 {
			srv.Drain()
			log.Info("draining before shutdown: /ready answers 503 and every answer closes its connection",
				"signal", s.String(), "delay", d.String())
			drainDelay(d, sig, other, log)
		}
	}
	log.Info("shutting down", "signal", s.String(), "grace", cfg.ShutdownGrace.D().String())
	shutdown(srv, host, cfg.ShutdownGrace.D(), log)
	log.Info("stopped")
	return nil
}

// started is called once the proxy serves: the pid file gets this
// process's ID, then whoever waits is told (the old process of an
// upgrade, or systemd). A pid file that cannot be written ends the start,
// before an upgrade's old process would stop.
func started(p process, log *slog.Logger) error {
	if err := p.pid.write(); err != nil {
		return fmt.Errorf("-pid-file: %w", err)
	}
	if !p.socks.upgrading() {
		notifySystemd("READY=1", log)
		return nil
	}
	if err := p.socks.serving(); err != nil {
		// The old process goes on until its wait runs out and then
		// stops this one: two processes serve the ports meanwhile.
		log.Error("the old process could not be told that this one serves", "err", err)
		return nil
	}
	log.Info("upgraded: took over from the old process", "sockets", p.socks.takenOver())
	return nil
}

// shutdown stops srv within grace: requests in flight finish, then every
// plugin's Cleanup runs.
func shutdown(srv *fastproxy.Server, host *pluginhost.Host, grace time.Duration, log *slog.Logger) {
	deadline := time.Now().Add(grace)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown did not finish cleanly", "err", err)
	}
	// Cleanup gets what the requests left of the grace period, so the
	// whole shutdown fits in shutdown_grace (an orchestrator's kill
	// follows soon after it), but never less than cleanupFloor.
	closePlugins(host, max(time.Until(deadline), min(grace, cleanupFloor)), log)
}

// drainDelay waits d, the shutdown_delay, while the proxy goes on
// serving; other answers the signals that do not stop, and a second stop
// signal ends the wait at once.
func drainDelay(d time.Duration, sig <-chan os.Signal, other func(os.Signal) bool, log *slog.Logger) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case s := <-sig:
			if !other(s) {
				log.Info("second stop signal: shutting down now", "signal", s.String())
				return
			}
		}
	}
}

// serveMetrics answers GET /metrics on addr with srv's metrics, and GET
// /ready with 200 while srv serves and 503 from the moment it begins to
// shut down (a readiness probe), on a net/http server of its own: the
// slow path, apart from the proxy's ports. stop closes it.
func serveMetrics(addr string, srv *fastproxy.Server, listen func(network, address string) (net.Listener, error), log *slog.Logger) (stop func(), err error) {
	ln, err := listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	// Which build serves, and since when: after an upgrade (SIGUSR2) the
	// counters start from zero, and these two tell a dashboard why.
	process := fmt.Sprintf("# HELP spillway_build_info The build serving: always 1.\n"+
		"# TYPE spillway_build_info gauge\n"+
		"spillway_build_info{version=%q,go_version=%q} 1\n"+
		"# HELP process_start_time_seconds When this process started, in seconds since the Unix epoch.\n"+
		"# TYPE process_start_time_seconds gauge\n"+
		"process_start_time_seconds %.3f\n",
		version, runtime.Version(), float64(processStart.UnixMilli())/1e3)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		io.WriteString(w, process)
		srv.WriteMetrics(w) //nolint:errcheck // a scraper that went away
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if !srv.Serving() {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go hs.Serve(ln) //nolint:errcheck // ends with Close
	log.Info("metrics listening", "addr", ln.Addr().String(), "paths", "/metrics /ready")
	return func() { hs.Close() }, nil
}
