package pluginhost

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	goplugin "plugin"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// DefaultDirectory is where Load looks when plugin_directory is empty.
const DefaultDirectory = "./plugins"

// Load opens every *.so file in cfg.PluginDirectory (default
// DefaultDirectory; a missing directory means no plugins), checks that each
// was built like the running binary, calls its New, and builds the Host as
// New does with cfg.Plugins. A file that cannot be loaded stops Load with
// an error naming the file and the fix, unless cfg.PluginStrict is false:
// then it is skipped with a warning. A nil log means slog.Default().
func Load(cfg *configs.Config, log *slog.Logger) (*Host, error) {
	if log == nil {
		log = slog.Default()
	}
	dir := cfg.PluginDirectory
	if dir == "" {
		dir = DefaultDirectory
	}
	strict := cfg.PluginStrict == nil || *cfg.PluginStrict
	files, err := soFiles(dir)
	if errors.Is(err, fs.ErrNotExist) {
		log.Info("no plugin directory; running without plugins", "dir", dir)
		return newHost(nil, cfg.Plugins, log)
	}
	if err != nil {
		return nil, fmt.Errorf("pluginhost: reading plugin_directory: %w", err)
	}
	self, _ := debug.ReadBuildInfo()
	var es []*entry
	for _, file := range files {
		e, err := open(file, self)
		if err != nil {
			if strict {
				return nil, err
			}
			log.Warn("skipping plugin (plugin_strict: false)", "file", file, "err", err)
			continue
		}
		es = append(es, e)
	}
	return newHost(es, cfg.Plugins, log)
}

// soFiles lists dir's *.so files in name order.
func soFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, d := range ents {
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".so") {
			files = append(files, filepath.Join(dir, d.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

// open loads one plugin file and calls its New.
func open(file string, self *debug.BuildInfo) (*entry, error) {
	if err := checkBuild(file, self); err != nil {
		return nil, err
	}
	p, err := goplugin.Open(file)
	if err != nil {
		return nil, openError(file, err)
	}
	sym, err := p.Lookup("New")
	if err != nil {
		return nil, fmt.Errorf("pluginhost: %s exports no New; a plugin must define func New() plugin.Handler in its package main", file)
	}
	var newFn func() plugin.Handler
	switch f := sym.(type) {
	case func() plugin.Handler:
		newFn = f
	case *func() plugin.Handler: // var New = func() plugin.Handler {...}
		newFn = *f
	default:
		return nil, fmt.Errorf("pluginhost: %s: New has type %T; want func() plugin.Handler (from github.com/spillway-lb/spillway/pluginhost/plugin)", file, sym)
	}
	h, err := callNew(newFn)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: %s: %w", file, err)
	}
	return &entry{h: h, name: h.Name(), file: file}, nil
}

func callNew(newFn func() plugin.Handler) (h plugin.Handler, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("New panicked: %v", v)
		}
	}()
	if newFn == nil {
		return nil, errors.New("New is a nil function")
	}
	if h = newFn(); h == nil {
		return nil, errors.New("New returned a nil Handler")
	}
	return h, nil
}

// openError puts Go's own refusal into the same form as checkBuild's.
func openError(file string, err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "different version of package "); i >= 0 {
		pkg := msg[i+len("different version of package "):]
		return fmt.Errorf("pluginhost: %s was built from a different copy of package %s than this Spillway; "+
			"rebuild it from the same sources and module versions (make plugins, or %s) (Go said: %v)",
			file, pkg, buildCommand, err)
	}
	return fmt.Errorf("pluginhost: %s is not a loadable Go plugin: %v", file, err)
}
