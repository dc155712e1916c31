package bench

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/examples/addheader/headerplugin"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// soFile is the example plugin `make plugins` builds, relative to this
// package's directory (where go test runs).
const soFile = "../plugins/addheader.so"

var spillwayProxy = proxyUnderTest{
	name:   "spillway",
	start:  startSpillway,
	covers: func(setup) bool { return true },
}

// quiet discards log lines: a benchmark measures the proxy, not its logger.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startSpillway serves s with fastproxy in front of origins until tb ends,
// from a configuration built in code the way a file would be.
func startSpillway(tb testing.TB, s setup, origins []string) target {
	tb.Helper()
	cfg := spillwayConfig(s, origins)
	if s.plugin == soPlugin {
		cfg.PluginDirectory = soDirectory(tb)
	}
	// As cmd/spillway does: the configuration is prepared before anything
	// reads it, plugins included.
	if err := cfg.Prepare(); err != nil {
		tb.Fatalf("configuration: %v", err)
	}
	opts := fastproxy.Options{Logger: quiet}
	switch s.plugin {
	case inProcPlugin:
		opts.Plugins = newHost(tb, func() (*pluginhost.Host, error) {
			return pluginhost.New([]plugin.Handler{headerplugin.New()}, cfg.Plugins, quiet)
		})
	case soPlugin:
		opts.Plugins = newHost(tb, func() (*pluginhost.Host, error) { return pluginhost.Load(cfg, quiet) })
	}
	srv, err := fastproxy.New(cfg, opts)
	if err != nil {
		tb.Fatalf("fastproxy.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	addrs := srv.Addrs()
	if len(addrs) != 1 {
		tb.Fatalf("Spillway listens on %v, want one address", addrs)
	}
	t := target{addr: addrs[0].String(), host: "bench.test"}
	if s.routes {
		t.host, t.prefix = routeTarget()
	}
	return t
}

// spillwayConfig builds the configuration of s: Terraster's single-service
// form, or for the routes setup routeCount services of routeCount
// locations sharing one ephemeral port.
func spillwayConfig(s setup, origins []string) *configs.Config {
	backends := make([]configs.Backend, len(origins))
	for i, o := range origins {
		backends[i] = configs.Backend{URL: "http://" + o}
	}
	cfg := &configs.Config{Host: "127.0.0.1", Algorithm: s.policy}
	if !s.routes {
		cfg.Backends = backends
		return cfg
	}
	for i := range routeCount[0] {
		svc := configs.Service{Name: routeHost(i), Host: routeHost(i)}
		for j := range routeCount[1] {
			svc.Locations = append(svc.Locations, configs.Location{Path: routePath(j), Backends: backends})
		}
		cfg.Services = append(cfg.Services, svc)
	}
	return cfg
}

// newHost builds a plugin host with build, closing it when tb ends.
func newHost(tb testing.TB, build func() (*pluginhost.Host, error)) fastproxy.Plugins {
	tb.Helper()
	h, err := build()
	if err != nil {
		tb.Skipf("plugin host: %v (a .so must be built by `make plugins` with the same toolchain and flags as the test binary; -race builds differ)", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	return h
}

// soDirectory returns a directory holding only the example plugin, so
// pluginhost.Load opens that one file and nothing else `make plugins`
// built. It skips tb when the plugin has not been built.
func soDirectory(tb testing.TB) string {
	tb.Helper()
	abs, err := filepath.Abs(soFile)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		tb.Skipf("%s not built (run `make plugins`): %v", soFile, err)
	}
	dir := tb.TempDir()
	if err := os.Symlink(abs, filepath.Join(dir, filepath.Base(abs))); err != nil {
		tb.Fatal(err)
	}
	return dir
}
