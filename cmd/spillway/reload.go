package main

import (
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/pluginhost"
)

// reload answers a SIGHUP: it reads file as -check does and, when it
// passes and changes nothing that only a restart applies, has srv serve
// it (fastproxy.Server.Reload says what carries over). Otherwise the
// running configuration stays and the log says why, one line per
// problem. It returns the configuration in force afterwards.
func reload(srv *fastproxy.Server, host *pluginhost.Host, running *configs.Config, file string, demo bool, log *slog.Logger) *configs.Config {
	if demo {
		log.Warn("SIGHUP: the demo's configuration is embedded and does not change; nothing reloaded")
		return running
	}
	next, warnings, err := configs.Load(file)
	for _, w := range warnings {
		log.Warn("SIGHUP: configuration warning", "problem", w.String())
	}
	if err != nil {
		const msg = "SIGHUP: configuration not reloaded: the file does not pass -check; the running one stays"
		var cerr *configs.Error
		if !errors.As(err, &cerr) {
			log.Error(msg, "file", file, "err", err)
			return running
		}
		for _, p := range cerr.Problems {
			log.Error(msg, "problem", p.String())
		}
		return running
	}
	changes := restartOnly(running, next)
	applyPlugins, more := host.Reconfigure(next)
	changes = append(changes, more...)
	if len(changes) == 0 {
		err = srv.Reload(next)
		var rr *fastproxy.RestartRequired
		if errors.As(err, &rr) {
			changes = rr.Changes
		} else if err != nil {
			log.Error("SIGHUP: configuration not reloaded; the running one stays", "file", file, "err", err)
			return running
		}
	}
	if len(changes) > 0 {
		for _, p := range changes {
			log.Error("SIGHUP: configuration not reloaded, a restart is needed to apply this change (SIGUSR2 upgrades without refusing a connection); the running one stays",
				"change", p.String())
		}
		return running
	}
	applyPlugins()
	log.Info("SIGHUP: configuration reloaded", append([]any{"file", file}, changed(running, next)...)...)
	return next
}

// changed describes, as log attributes, the services and backend URLs
// that next adds to or removes from running, so the log shows what a
// reload did (attributes without entries are left out).
func changed(running, next *configs.Config) []any {
	svcOld, beOld := inventory(running)
	svcNew, beNew := inventory(next)
	var out []any
	for _, d := range []struct {
		key      string
		from, to map[string]bool
	}{
		{"services_added", svcOld, svcNew}, {"services_removed", svcNew, svcOld},
		{"backends_added", beOld, beNew}, {"backends_removed", beNew, beOld},
	} {
		var names []string
		for n := range d.to {
			if !d.from[n] {
				names = append(names, n)
			}
		}
		if len(names) > 0 {
			slices.Sort(names)
			out = append(out, d.key, strings.Join(names, ","))
		}
	}
	return out
}

// inventory returns the names of cfg's services and its backend URLs.
func inventory(cfg *configs.Config) (services, backends map[string]bool) {
	services, backends = map[string]bool{}, map[string]bool{}
	for _, b := range cfg.Backends {
		backends[b.URL] = true
	}
	for _, svc := range cfg.Services {
		services[svc.Name] = true
		for _, l := range svc.Locations {
			for _, b := range l.Backends {
				backends[b.URL] = true
			}
		}
	}
	return services, backends
}

// restartOnly lists the keys outside the proxy's services and the
// plugins' settings (pluginhost.Host.Reconfigure) that next changes and
// only a restart applies: where plugins are loaded from (a Go plugin
// cannot be unloaded), the access log, the metrics listener and the log's
// own settings.
func restartOnly(running, next *configs.Config) []configs.Problem {
	var out []configs.Problem
	for _, f := range []struct {
		key      string
		old, new any
	}{
		{"plugin_directory", running.PluginDirectory, next.PluginDirectory},
		{"plugin_strict", running.PluginStrict, next.PluginStrict},
		{"access_log", running.AccessLog, next.AccessLog},
		{"metrics", running.Metrics, next.Metrics},
		{"log", running.Log, next.Log},
	} {
		if !reflect.DeepEqual(f.old, f.new) {
			out = append(out, configs.Problem{File: next.File, Line: next.Positions[f.key], Key: f.key,
				Msg: "changed; read only at start"})
		}
	}
	return out
}
