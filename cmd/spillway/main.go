// Command spillway runs the Spillway load balancer.
//
//	spillway -config FILE          serve FILE
//	spillway -check -config FILE   validate FILE: exit 0, or 1 with every problem as file:line: key: what is wrong
//	spillway -demo                 serve the embedded demo: two demo origins and the proxy on :8080
//	spillway -version
//
// -cpuprofile FILE writes a CPU profile of the whole run, for go tool pprof.
//
// SIGTERM and SIGINT stop accepting (after shutdown_delay, if set, spent
// serving with /ready at 503), let in-flight requests finish within
// shutdown_grace, run every plugin's Cleanup, and exit 0. SIGHUP reloads
// the configuration file when it passes -check and changes nothing that
// only a restart applies (reload.go), and otherwise logs why not and keeps
// the running one. SIGUSR1 reopens the access log file (after logrotate
// renamed it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/fastproxy/accesslog"
	"github.com/spillway-lb/spillway/pluginhost"
	"go.uber.org/automaxprocs/maxprocs"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, so tests can drive it.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("spillway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		file      = fs.String("config", "", "configuration `file` (YAML, Terraster's keys)")
		check     = fs.Bool("check", false, "validate the configuration and exit")
		demo      = fs.Bool("demo", false, "serve the embedded demo configuration with its own demo origins")
		showVer   = fs.Bool("version", false, "print the version and exit")
		logFormat = fs.String("log-format", "", "log format: text or json (overrides log.format)")
		cpuProf   = fs.String("cpuprofile", "", "write a CPU profile to `file` until shutdown")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVer {
		fmt.Fprintf(stdout, "spillway %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	if (*file == "") == !*demo {
		fmt.Fprintln(stderr, "spillway: give either -config FILE or -demo (see -h)")
		return 2
	}

	cfg, warnings, err := load(*file, *demo)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "%s: ok\n", displayName(*file, *demo))
		return 0
	}

	log, err := newLogger(stderr, cfg.Log, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "spillway: %v\n", err)
		return 2
	}
	if _, err := maxprocs.Set(maxprocs.Logger(func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) })); err != nil {
		log.Warn("automaxprocs", "err", err)
	}
	if *cpuProf != "" {
		stop, err := startCPUProfile(*cpuProf)
		if err != nil {
			fmt.Fprintf(stderr, "spillway: %v\n", err)
			return 2
		}
		defer stop()
	}
	if err := serve(cfg, *file, *demo, log, stdout); err != nil {
		log.Error("spillway stopped", "err", err)
		return 1
	}
	return 0
}

// startCPUProfile profiles the whole run; the profile is complete once the
// returned stop has run, at shutdown.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func load(file string, demo bool) (*configs.Config, []configs.Problem, error) {
	if demo {
		return configs.Parse("demo.yaml (embedded)", configs.Demo)
	}
	return configs.Load(file)
}

func displayName(file string, demo bool) string {
	if demo {
		return "demo.yaml (embedded)"
	}
	return file
}

// printProblems writes one problem per line, so -check output can be read
// by people and by editors that jump to file:line.
func printProblems(w io.Writer, err error) {
	var cerr *configs.Error
	if errors.As(err, &cerr) {
		for _, p := range cerr.Problems {
			fmt.Fprintln(w, p)
		}
		return
	}
	fmt.Fprintf(w, "spillway: %v\n", err)
}

func newLogger(w io.Writer, lc configs.Log, formatFlag string) (*slog.Logger, error) {
	format := lc.Format
	if formatFlag != "" {
		format = formatFlag
	}
	var level slog.Level
	if lc.Level != "" {
		if err := level.UnmarshalText([]byte(lc.Level)); err != nil {
			return nil, fmt.Errorf("log level %q: %w", lc.Level, err)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// serve runs until SIGTERM/SIGINT, then shuts down within shutdown_grace.
// file is the configuration's path, reloaded on SIGHUP.
func serve(cfg *configs.Config, file string, demo bool, log *slog.Logger, stdout io.Writer) error {
	if demo {
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
	opts := fastproxy.Options{Logger: log}
	if host.Len() > 0 {
		opts.Plugins = host
	}
	if p := cfg.AccessLog.Path; p != "" {
		al, err := accesslog.Open(p, cfg.AccessLog.Format, func(err error) {
			log.Error("access log: lines lost", "path", p, "err", err)
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
	// port opens is not lost. SIGHUP and SIGUSR1 are caught too: by default
	// either would end the process at once, dropping every request in
	// flight, and operators and tools (systemctl reload, logrotate) send
	// them expecting a reload or a reopened log.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sig)

	if opts.Metrics {
		stop, err := serveMetrics(cfg.Metrics.Listen, srv, log)
		if err != nil {
			closePlugins(host, cfg.ShutdownGrace.D(), log)
			return fmt.Errorf("metrics.listen: %w", err)
		}
		defer stop()
	}
	if err := srv.Start(); err != nil {
		closePlugins(host, cfg.ShutdownGrace.D(), log)
		return err
	}
	for _, a := range srv.Addrs() {
		log.Info("listening", "addr", a.String(), "plugins", host.Len(), "version", version)
	}

	if demo {
		fmt.Fprintln(stdout, "Spillway demo is up. Try:\n  curl -i http://127.0.0.1:8080/\n  curl -i http://127.0.0.1:8080/api/hello")
	}

	// SIGHUP and SIGUSR1 are answered and waited past, before the stop
	// signal and during shutdown_delay alike.
	other := func(s os.Signal) bool {
		switch s {
		case syscall.SIGHUP:
			cfg = reload(srv, host, cfg, file, demo, log)
		case syscall.SIGUSR1:
			reopenAccessLog(opts.AccessLog, cfg.AccessLog.Path, log)
		default:
			return false
		}
		return true
	}
	s := <-sig
	for other(s) {
		s = <-sig
	}
	if d := cfg.ShutdownDelay.D(); d > 0 {
		srv.Drain()
		log.Info("draining before shutdown: /ready answers 503 and every answer closes its connection",
			"signal", s.String(), "delay", d.String())
		drainDelay(d, sig, other, log)
	}
	grace := cfg.ShutdownGrace.D()
	log.Info("shutting down", "signal", s.String(), "grace", grace.String())
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
	log.Info("stopped")
	return nil
}

// drainDelay waits d, the shutdown_delay, while the proxy goes on
// serving; other answers SIGHUP and SIGUSR1, and a second stop signal ends
// the wait at once.
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
func serveMetrics(addr string, srv *fastproxy.Server, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
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

// reopenAccessLog answers a SIGUSR1: the access log goes on in a new file
// at its path, as nginx's does, so that logrotate can rename the old one
// and signal. A failure leaves it on the old file.
func reopenAccessLog(al *accesslog.Log, path string, log *slog.Logger) {
	if al == nil {
		log.Warn("SIGUSR1: there is no access log to reopen (access_log.path is not set)")
		return
	}
	if err := al.Reopen(); err != nil {
		log.Error("SIGUSR1: the access log could not be reopened; it goes on in the old file", "path", path, "err", err)
		return
	}
	log.Info("SIGUSR1: access log reopened", "path", path)
}

// cleanupFloor is the least time plugin Cleanup gets after requests that
// used up the whole grace period, so plugins can still flush their state.
const cleanupFloor = time.Second

// closePlugins runs every plugin's Cleanup, for at most d.
func closePlugins(host *pluginhost.Host, d time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := host.Close(ctx); err != nil {
		log.Warn("plugin cleanup", "err", err)
	}
}
