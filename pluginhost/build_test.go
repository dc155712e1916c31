package pluginhost_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Plugins are built once per test run, on first use, into soDir, with the
// flags of this test binary (a plugin built otherwise does not load).

var soDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginhost-so-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	soDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type soBuild struct {
	once sync.Once
	path string
	err  error
}

// soKinds: in-module packages by directory, or a separate module ("module:").
var soKinds = map[string]string{
	"guide":      "./examples/guide",
	"addheader":  "./examples/addheader",
	"probe":      "./testdata/probe",
	"nonew":      "./testdata/nonew",
	"wrongnew":   "./testdata/wrongnew",
	"panicnew":   "./testdata/panicnew",
	"thirdparty": "module:thirdparty",
	"mismatch":   "module:mismatch",
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*soBuild{}
)

// soFile returns the path of the built plugin name, building it if needed.
func soFile(t *testing.T, name string) string {
	t.Helper()
	if testing.CoverMode() != "" {
		t.Skip("skipped under -cover: a plugin only loads into a binary built with the same flags, and coverage instruments the packages the plugin shares")
	}
	if testing.Short() {
		t.Skip("skipped in -short mode: builds .so plugins")
	}
	buildsMu.Lock()
	b := builds[name]
	if b == nil {
		b = new(soBuild)
		builds[name] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() { b.path, b.err = buildPlugin(name) })
	if b.err != nil {
		t.Fatalf("building plugin %s: %v", name, b.err)
	}
	return b.path
}

func buildPlugin(name string) (string, error) {
	src := soKinds[name]
	out := filepath.Join(soDir, name+".so")
	dir, pkg := ".", src
	if mod, ok := strings.CutPrefix(src, "module:"); ok {
		d, err := writeModule(mod)
		if err != nil {
			return "", err
		}
		dir, pkg = d, "."
	}
	args := []string{"build", "-buildmode=plugin"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOPROXY=off")
	if dir != "." {
		// -mod=mod lets a separate module complete its own go.mod from
		// go.sum and the module cache; never used in Spillway's module,
		// whose go.mod it would rewrite.
		cmd.Env = append(cmd.Env, "GOFLAGS=-mod=mod -buildvcs=false")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, b)
	}
	return out, nil
}

// moduleRoot is Spillway's checkout, wherever it was cloned.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// writeModule lays out testdata/NAME as a module of its own that requires
// Spillway through a replace, as a third-party plugin author would.
func writeModule(name string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(soDir, "mod-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	gomod := fmt.Sprintf("module example.com/%s\n\ngo 1.26\n\nrequire github.com/spillway-lb/spillway v0.0.0\n\nreplace github.com/spillway-lb/spillway => %s\n", name, root)
	if name == "mismatch" {
		// A local, changed copy of a module Spillway links: its effective
		// version differs, and so do the package's contents.
		if err := copyModule("github.com/valyala/bytebufferpool@v1.0.0", filepath.Join(dir, "bbp")); err != nil {
			return "", err
		}
		gomod += "\nrequire github.com/valyala/bytebufferpool v1.0.0\n\nreplace github.com/valyala/bytebufferpool => ./bbp\n"
	}
	for file, text := range map[string]string{"go.mod": gomod} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return "", err
	}
	main, err := os.ReadFile(filepath.Join("testdata", name, "main.go"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "main.go"), main, 0o644)
}

// copyModule copies a module's non-test Go files out of the module cache
// and adds a go.mod and one extra function.
func copyModule(modAtVersion, dst string) error {
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return err
	}
	src := filepath.Join(strings.TrimSpace(string(cache)), modAtVersion)
	files, err := filepath.Glob(filepath.Join(src, "*.go"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	mod := "module " + strings.Split(modAtVersion, "@")[0] + "\n\ngo 1.12\n"
	extra := "package bytebufferpool\n\n// Modified makes this copy differ from the released module.\nfunc Modified() {}\n"
	if err := os.WriteFile(filepath.Join(dst, "go.mod"), []byte(mod), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, "modified.go"), []byte(extra), 0o644)
}

// pluginDir returns a fresh directory holding links to the named plugins.
// Links, not copies: Go loads one file per plugin package per process, and
// recognises a link to an opened file as that file.
func pluginDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.Symlink(soFile(t, n), filepath.Join(dir, n+".so")); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
