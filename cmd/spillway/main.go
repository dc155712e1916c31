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
// renamed it). SIGUSR2 upgrades: the executable is started again with the
// same arguments and this process's listening sockets, and once it serves
// this one shuts down as on SIGTERM (upgrade.go).
//
// -pid-file FILE holds the serving process's ID. Under systemd, use
// Type=notify: the process reports READY=1 and, on an upgrade, MAINPID=.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spillway-lb/spillway/configs"
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
		pidPath   = fs.String("pid-file", "", "write the serving process's ID to `file`")
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
	socks, err := inheritSockets()
	if err != nil {
		log.Error("spillway stopped", "err", err)
		return 1
	}
	proc := process{file: *file, demo: *demo, args: args, socks: socks, pid: pidFile(*pidPath)}
	if err := serve(cfg, proc, log, stdout); err != nil {
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
	var h slog.Handler
	switch strings.ToLower(format) {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	// Every line names its process, as nginx's error log does: during an
	// upgrade (SIGUSR2) two processes write to the same stream.
	return slog.New(h).With("pid", os.Getpid()), nil
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
