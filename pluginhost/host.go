// Package pluginhost loads Spillway's .so plugins and runs them around
// proxied requests through the net/http view of package adapter.
//
// Load and New are the slow path (start-up): opening files, checking build
// information, ordering, Configure. Host.Request and the Exchange it returns
// are the hot path: they allocate nothing beyond what the adapter does, and
// run each phase of the chain on the request's own goroutine, every plugin
// under its own budget, enforced by a watchdog (see call.go and
// watchdog.go). The plugin API itself is package plugin.
package pluginhost

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// DefaultTimeout is a plugin's budget per call when its settings give none.
const DefaultTimeout = 5 * time.Second

var _ fastproxy.Plugins = (*Host)(nil)

// Host runs an ordered chain of plugins. It is safe for concurrent use;
// its chain does not change after New or Load.
type Host struct {
	plugins []*entry // loaded and configured: ascending Priority, then Name
	// chains are the enabled plugins taking part in each phase; Reconfigure
	// swaps them, and a phase keeps the one it started with.
	chains atomic.Pointer[chains]
	// disabled are the plugins loaded but disabled at start, never
	// configured.
	disabled map[string]bool
	log      *slog.Logger
	watch    *watchdog

	closeOnce sync.Once
	closeErr  error
}

// entry is one active plugin.
type entry struct {
	h       plugin.Handler
	name    string
	file    string // "" for in-process handlers
	timeout time.Duration
	phases  plugin.Phase
	config  map[string]any // the block Configure got
}

// chains are the plugins of each phase (plugin.PhaseChooser), in order.
type chains struct {
	onRequest, onResponse []*entry
}

// New builds a Host from in-process handlers, as Load does after opening
// the files: handlers whose settings say enabled: false are dropped, the
// rest are ordered by Priority then Name (two with one Name are an error),
// get their timeout (default DefaultTimeout) and, when they implement
// plugin.Configurer, their config block as JSON. A Configure error is
// returned naming the plugin. A nil log means slog.Default().
func New(handlers []plugin.Handler, settings map[string]configs.PluginSettings, log *slog.Logger) (*Host, error) {
	es := make([]*entry, len(handlers))
	for i, hd := range handlers {
		es[i] = &entry{h: hd, name: hd.Name()}
	}
	return newHost(es, settings, log)
}

func newHost(es []*entry, settings map[string]configs.PluginSettings, log *slog.Logger) (*Host, error) {
	if log == nil {
		log = slog.Default()
	}
	prio := make(map[*entry]int, len(es))
	for _, e := range es {
		prio[e] = e.h.Priority()
	}
	slices.SortStableFunc(es, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(prio[a], prio[b]), cmp.Compare(a.name, b.name))
	})
	known, err := uniqueNames(es)
	if err != nil {
		return nil, err
	}
	h := &Host{log: log, disabled: map[string]bool{}}
	for _, e := range es {
		s := settings[e.name]
		if !enabled(s) {
			log.Info("plugin disabled by configuration", "plugin", e.name)
			h.disabled[e.name] = true
			continue
		}
		e.timeout, e.config = timeoutOf(s), s.Config
		if err := configure(e, s.Config); err != nil {
			return nil, err
		}
		h.plugins = append(h.plugins, e)
		e.phases = plugin.RequestPhase | plugin.ResponsePhase
		if pc, ok := e.h.(plugin.PhaseChooser); ok {
			e.phases = pc.Phases()
		}
		log.Info("plugin ready", "plugin", e.name, "priority", prio[e], "timeout", e.timeout, "file", e.file)
	}
	for name := range settings {
		if known[name] == nil {
			log.Warn("settings for a plugin that is not loaded", "plugin", name)
		}
	}
	ch, shortest := chainsOf(h.plugins)
	h.chains.Store(ch)
	h.watch = newWatchdog(tickFor(shortest))
	return h, nil
}

func enabled(s configs.PluginSettings) bool { return s.Enabled == nil || *s.Enabled }

func timeoutOf(s configs.PluginSettings) time.Duration {
	if d := s.Timeout.D(); d > 0 {
		return d
	}
	return DefaultTimeout
}

// chainsOf sorts es, in order, into the phases they take part in, and
// returns the shortest of their budgets (DefaultTimeout at most).
func chainsOf(es []*entry) (*chains, time.Duration) {
	ch, shortest := &chains{}, DefaultTimeout
	for _, e := range es {
		if e.phases&plugin.RequestPhase != 0 {
			ch.onRequest = append(ch.onRequest, e)
		}
		if e.phases&plugin.ResponsePhase != 0 {
			ch.onResponse = append(ch.onResponse, e)
		}
		shortest = min(shortest, e.timeout)
	}
	return ch, shortest
}

// uniqueNames maps each plugin's name to its entry, or fails naming both
// files of the first name used twice. Sorting puts equal names next to
// each other only within one priority, so neighbours are not enough.
func uniqueNames(es []*entry) (map[string]*entry, error) {
	byName := make(map[string]*entry, len(es))
	for _, e := range es {
		if first := byName[e.name]; first != nil {
			return nil, fmt.Errorf("pluginhost: two plugins are named %q (%s and %s); names must be unique",
				e.name, origin(first), origin(e))
		}
		byName[e.name] = e
	}
	return byName, nil
}

// configure hands a Configurer its config block once, before any request.
func configure(e *entry, config map[string]any) (err error) {
	c, ok := e.h.(plugin.Configurer)
	if !ok {
		return nil
	}
	b := []byte("{}")
	if config != nil {
		if b, err = json.Marshal(config); err != nil {
			return fmt.Errorf("pluginhost: plugin %q: cannot encode its config as JSON: %w", e.name, err)
		}
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("pluginhost: plugin %q: Configure panicked: %v", e.name, v)
		}
	}()
	if err := c.Configure(b); err != nil {
		return fmt.Errorf("pluginhost: plugin %q: Configure failed: %w", e.name, err)
	}
	return nil
}

func origin(e *entry) string {
	if e.file == "" {
		return "in-process"
	}
	return e.file
}

// Len returns the number of active plugins. With none, the binary passes
// no Plugins to the proxy at all, which keeps its no-plugin path.
func (h *Host) Len() int { return len(h.plugins) }

// Close runs each active plugin's Cleanup once, in chain order, logging
// errors. Plugins disabled by
// their settings at start were never configured and are not cleaned up;
// those a reload disabled (Reconfigure) are. It returns ctx's error if ctx ends first
// (the remaining Cleanups still run in the background), else the joined
// Cleanup errors. Later calls return the first call's result.
func (h *Host) Close(ctx context.Context) error {
	h.closeOnce.Do(func() {
		done := make(chan error, 1)
		go func() { done <- h.cleanup() }()
		select {
		case h.closeErr = <-done:
		case <-ctx.Done():
			h.closeErr = fmt.Errorf("pluginhost: plugin cleanup did not finish: %w", ctx.Err())
			h.log.Error("plugin cleanup cut short", "err", ctx.Err())
		}
	})
	return h.closeErr
}

func (h *Host) cleanup() error {
	var errs []error
	for _, e := range h.plugins {
		if err := cleanupOne(e); err != nil {
			h.log.Error("plugin cleanup failed", "plugin", e.name, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func cleanupOne(e *entry) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("plugin %q: Cleanup panicked: %v", e.name, v)
		}
	}()
	if err := e.h.Cleanup(); err != nil {
		return fmt.Errorf("plugin %q: %w", e.name, err)
	}
	return nil
}
