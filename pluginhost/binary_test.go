package pluginhost_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSpillwayRefusesAPluginBuiltWithAnotherModule runs the real binary,
// whose build information lists every module it links (a test binary's
// lists none), with a plugin built against a changed copy of one of them:
// start-up fails before the plugin is opened, naming the file, the module,
// both versions and the fix.
func TestSpillwayRefusesAPluginBuiltWithAnotherModule(t *testing.T) {
	mismatch := soFile(t, "mismatch")
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "spillway")
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race") // as the plugin was built
	}
	build := exec.Command("go", append(args, "-o", bin, "./cmd/spillway")...)
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(mismatch, filepath.Join(plugins, "mismatch.so")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "spillway.yaml")
	text := fmt.Sprintf("port: 0\nhost: 127.0.0.1\nplugin_directory: %s\nbackends:\n  - url: http://127.0.0.1:9\n", plugins)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-config", cfg).CombinedOutput()
	if err == nil {
		t.Fatalf("spillway started with a mismatched plugin:\n%s", out)
	}
	for _, want := range []string{
		"mismatch.so", "module github.com/valyala/bytebufferpool => ./bbp", "this Spillway has v1.0.0", "make plugins",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("start-up error lacks %q:\n%s", want, out)
		}
	}
}
