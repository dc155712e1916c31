package pluginhost

import (
	"debug/buildinfo"
	"fmt"
	"runtime/debug"
)

// buildCommand is the fix named in version-mismatch messages.
const buildCommand = "CGO_ENABLED=1 go build -buildmode=plugin with the Go version, module versions and flags of this Spillway"

// settingsThatMustMatch are build settings a plugin shares with the binary
// that loads it; Go refuses a plugin built otherwise, with a vaguer message.
var settingsThatMustMatch = []string{"-race", "-msan", "-asan", "CGO_ENABLED", "GOOS", "GOARCH", "GOAMD64", "GOARM64", "-tags"}

// checkBuild compares file's build information with the running binary's
// before plugin.Open, so a mismatch is reported naming the item and both
// versions rather than as Go's "different version of package".
//
// Modules are compared by effective version: a replaced module counts as
// its replacement. The running binary's own main module is skipped: a
// plugin written in its own module requires Spillway (often v0.0.0 =>
// ../spillway) while Spillway built from source is (devel); Go's own check
// at Open still catches differing contents.
func checkBuild(file string, self *debug.BuildInfo) error {
	bi, err := buildinfo.ReadFile(file)
	if err != nil {
		return fmt.Errorf("pluginhost: %s is not a Go plugin (%v); build plugins with %s", file, err, buildCommand)
	}
	if mode := setting(bi, "-buildmode"); mode != "plugin" {
		return fmt.Errorf("pluginhost: %s is a Go program built with -buildmode=%s, not a plugin; build it with %s", file, mode, buildCommand)
	}
	if self == nil { // no build information to compare (unusual builds)
		return nil
	}
	if bi.GoVersion != self.GoVersion {
		return mismatch(file, "Go", bi.GoVersion, self.GoVersion)
	}
	for _, k := range settingsThatMustMatch {
		if p, s := setting(bi, k), setting(self, k); p != s {
			return mismatch(file, "build setting "+k, show(p), show(s))
		}
	}
	have := make(map[string]string, len(self.Deps))
	for _, m := range self.Deps {
		have[m.Path] = effective(m)
	}
	for _, m := range append([]*debug.Module{&bi.Main}, bi.Deps...) {
		if m.Path == self.Main.Path {
			continue
		}
		if v, ok := have[m.Path]; ok && v != effective(m) {
			return mismatch(file, "module "+m.Path, effective(m), v)
		}
	}
	return nil
}

func mismatch(file, item, plugin, host string) error {
	return fmt.Errorf("pluginhost: %s was built with %s %s, but this Spillway has %s; "+
		"rebuild the plugin to match (make plugins, or %s; a plugin in its own module requires the module versions `go version -m` shows for Spillway)",
		file, item, plugin, host, buildCommand)
}

func setting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

func show(v string) string {
	if v == "" {
		return "(unset)"
	}
	return v
}

// effective is the version a module is really built from.
func effective(m *debug.Module) string {
	r := m.Replace
	switch {
	case r == nil:
		return m.Version
	case r.Version == "" || r.Version == "(devel)": // a directory
		return "=> " + r.Path + " (a local directory)"
	case r.Path != m.Path:
		return r.Path + " " + r.Version
	default:
		return r.Version
	}
}
