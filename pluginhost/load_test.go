package pluginhost_test

import (
	"context"
	"debug/buildinfo"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/pluginhost"
)

func TestLoadRefusesBadPluginFilesNamingTheFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		desc string
		file func(t *testing.T, dir string) string // returns the .so path it placed in dir
		want []string
	}{
		{"text file named .so", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "x.so")
			if err := os.WriteFile(p, []byte("not a plugin\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{"is not a Go plugin", "go build -buildmode=plugin"}},
		{"plugin without New", linked("nonew"), []string{"exports no New", "func New() plugin.Handler"}},
		{"New of another type", linked("wrongnew"), []string{"New has type func() string", "want func() plugin.Handler"}},
		{"New that panics", linked("panicnew"), []string{"New panicked", "panicnew: cannot start"}},
		{"module version mismatch", linked("mismatch"), []string{"github.com/valyala/bytebufferpool", "make plugins", "rebuild"}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			dir := t.TempDir()
			file := c.file(t, dir)
			_, err := pluginhost.Load(&configs.Config{PluginDirectory: dir}, quiet)
			if err == nil {
				t.Fatal("Load succeeded; want an error (plugin_strict defaults to true)")
			}
			t.Log(err)
			for _, want := range append([]string{file}, c.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// linked places a link to the built plugin name in dir.
func linked(name string) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string {
		p := filepath.Join(dir, name+".so")
		if err := os.Symlink(soFile(t, name), p); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func TestLoadNonStrictSkipsBadFilesWithAWarning(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t, "probe", "nonew")
	if err := os.WriteFile(filepath.Join(dir, "text.so"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	log, logs := newLog()
	strict := false
	h, err := pluginhost.Load(&configs.Config{PluginDirectory: dir, PluginStrict: &strict}, log)
	if err != nil {
		t.Fatalf("Load with plugin_strict: false: %v", err)
	}
	defer h.Close(context.Background())
	if h.Len() != 1 {
		t.Errorf("Len() = %d, want 1 (probe only)", h.Len())
	}
	for _, want := range []string{"level=WARN", "nonew.so", "text.so"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestMissingPluginDirectoryMeansNoPlugins(t *testing.T) {
	t.Parallel()
	log, logs := newLog()
	h, err := pluginhost.Load(&configs.Config{PluginDirectory: filepath.Join(t.TempDir(), "absent")}, log)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 0 {
		t.Errorf("Len() = %d, want 0", h.Len())
	}
	if !strings.Contains(logs.String(), "no plugin directory") {
		t.Errorf("missing directory not logged:\n%s", logs)
	}
}

func TestConfigureErrorStopsStartUpNamingThePlugin(t *testing.T) {
	t.Parallel()
	_, err := pluginhost.Load(&configs.Config{
		PluginDirectory: pluginDir(t, "probe"),
		Plugins:         settings("probe", 0, map[string]any{"fail_configure": "api key list is empty"}),
	}, quiet)
	if err == nil || !strings.Contains(err.Error(), `plugin "probe"`) || !strings.Contains(err.Error(), "api key list is empty") {
		t.Fatalf("Load error = %v; want one naming plugin \"probe\" and its message", err)
	}
}

func TestCleanupRunsOnceOnClose(t *testing.T) {
	t.Parallel()
	marks := filepath.Join(t.TempDir(), "cleanup.log")
	h, err := pluginhost.Load(&configs.Config{
		PluginDirectory: pluginDir(t, "probe"),
		Plugins:         settings("probe", 0, map[string]any{"cleanup_file": marks}),
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := h.Close(context.Background()); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	b, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "cleanup\n"); n != 1 {
		t.Errorf("Cleanup ran %d times, want 1", n)
	}
}

// The running test binary lists no dependencies in its build information,
// so the module comparison is checked against the build information of a
// plugin built from this module (probe, which links bytebufferpool): the
// versions Spillway itself is built with.
func TestBuildCheckNamesTheDifferingItem(t *testing.T) {
	t.Parallel()
	self, err := buildinfo.ReadFile(soFile(t, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	mismatch := soFile(t, "mismatch")
	otherGo := *self
	otherGo.GoVersion = "go1.20.1"
	otherRace := *self
	otherRace.Settings = append(otherRace.Settings[:0:0], self.Settings...)
	for i := range otherRace.Settings {
		if otherRace.Settings[i].Key == "-race" {
			otherRace.Settings = append(otherRace.Settings[:i], otherRace.Settings[i+1:]...)
			break
		}
	}
	if !raceEnabled {
		otherRace.Settings = append(otherRace.Settings, self.Settings[0])
		otherRace.Settings[len(otherRace.Settings)-1].Key, otherRace.Settings[len(otherRace.Settings)-1].Value = "-race", "true"
	}
	cases := []struct {
		desc string
		file string
		self *buildinfo.BuildInfo
		want []string // nil: no error
	}{
		{"same build", soFile(t, "addheader"), self, nil},
		{"third-party module requiring spillway by replace", soFile(t, "thirdparty"), self, nil},
		{"replaced shared module", mismatch, self, []string{"module github.com/valyala/bytebufferpool => ./bbp", "this Spillway has v1.0.0"}},
		{"other Go version", soFile(t, "probe"), &otherGo, []string{"Go " + self.GoVersion, "this Spillway has go1.20.1"}},
		{"other -race", soFile(t, "probe"), &otherRace, []string{"build setting -race"}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			err := pluginhost.CheckBuild(c.file, c.self)
			if c.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range append([]string{c.file, "make plugins"}, c.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}
