package pluginhost

import (
	"maps"
	"reflect"
	"slices"

	"github.com/spillway-lb/spillway/configs"
)

// Reconfigure readies the per-plugin settings of a reloaded configuration
// for the running host: whether a plugin runs (enabled) and its timeout
// may change. What would need a plugin configured anew is refused, one
// problem per plugin: a config block other than the one Configure got
// (it runs once), and enabling a plugin that was disabled at start (it
// was never configured). Nothing changes until apply is called, so the
// caller applies it with the rest of the reload or not at all; a phase
// that already started finishes with the settings it started with.
// A disabled plugin keeps its place for Cleanup at shutdown.
func (h *Host) Reconfigure(cfg *configs.Config) (apply func(), restart []configs.Problem) {
	problem := func(key, msg string) {
		restart = append(restart, configs.Problem{File: cfg.File, Line: cfg.Positions[key], Key: key, Msg: msg})
	}
	for _, e := range h.plugins {
		s := cfg.Plugins[e.name]
		// No block and an empty one both hand Configure "{}".
		if (len(s.Config) > 0 || len(e.config) > 0) && !reflect.DeepEqual(s.Config, e.config) {
			problem("plugins."+e.name+".config", "changed; a plugin's Configure runs once, at start")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Plugins)) {
		if h.disabled[name] && enabled(cfg.Plugins[name]) {
			problem("plugins."+name+".enabled", "the plugin was disabled at start and never configured")
		}
	}
	if len(restart) > 0 {
		return nil, restart
	}
	return func() { h.apply(cfg.Plugins) }, nil
}

// apply switches the chains to settings, which Reconfigure checked.
func (h *Host) apply(settings map[string]configs.PluginSettings) {
	old := map[string]*entry{}
	cur := h.chains.Load()
	for _, e := range append(append([]*entry(nil), cur.onRequest...), cur.onResponse...) {
		old[e.name] = e
	}
	var es []*entry
	for _, e := range h.plugins {
		s := settings[e.name]
		was := old[e.name]
		if !enabled(s) {
			if was != nil {
				h.log.Info("plugin disabled by the reloaded configuration", "plugin", e.name)
			}
			continue
		}
		ne := *e
		ne.timeout = timeoutOf(s)
		switch {
		case was == nil:
			h.log.Info("plugin enabled by the reloaded configuration", "plugin", e.name, "timeout", ne.timeout)
		case was.timeout != ne.timeout:
			h.log.Info("plugin timeout changed by the reloaded configuration", "plugin", e.name,
				"from", was.timeout, "to", ne.timeout)
		}
		es = append(es, &ne)
	}
	for name := range settings {
		if !h.loaded(name) && !h.disabled[name] {
			h.log.Warn("settings for a plugin that is not loaded", "plugin", name)
		}
	}
	ch, shortest := chainsOf(es)
	h.watch.setTick(tickFor(shortest))
	h.chains.Store(ch)
}

func (h *Host) loaded(name string) bool {
	for _, e := range h.plugins {
		if e.name == name {
			return true
		}
	}
	return false
}
