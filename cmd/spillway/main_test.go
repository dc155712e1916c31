package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCheckShippedConfigs runs -check on every example shipped in configs/,
// so the README's reference example can never drift from the code.
func TestCheckShippedConfigs(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run([]string{"-check", "-config", f}, &out, &errb); code != 0 {
				t.Fatalf("-check %s exited %d\nstdout: %s\nstderr: %s", f, code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), ": ok") {
				t.Errorf("-check printed %q, want a line ending in ': ok'", out.String())
			}
		})
	}
}

func TestCheckEmbeddedDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-check", "-demo"}, &out, &errb); code != 0 {
		t.Fatalf("-check -demo exited %d: %s", code, errb.String())
	}
}

// TestCheckListsEveryProblemWithItsLine: a file with several mistakes gets
// one line per mistake, each naming the file, the line and the key.
func TestCheckListsEveryProblemWithItsLine(t *testing.T) {
	cfg := `port: 8080
algorithm: round_robbin
backends:
  - url: http://127.0.0.1:9001
    weigth: 2
  - url: ftp://127.0.0.1:9002
`
	f := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(f, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"-check", "-config", f}, &out, &errb)
	if code == 0 {
		t.Fatalf("-check accepted a bad file; stderr: %s", errb.String())
	}
	got := errb.String()
	for _, want := range []struct {
		line int
		key  string
	}{
		{2, "algorithm"},
		{5, "weigth"},
		{6, "url"},
	} {
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^%s:%d: [^ ]*%s[^ ]*: .+$`, regexp.QuoteMeta(f), want.line, want.key))
		if !re.MatchString(got) {
			t.Errorf("no problem line for %s at line %d in:\n%s", want.key, want.line, got)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-version"}, &out, &errb); code != 0 {
		t.Fatalf("-version exited %d", code)
	}
	if !strings.HasPrefix(out.String(), "spillway ") {
		t.Errorf("-version printed %q", out.String())
	}
}

func TestNoConfigIsAUsageError(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(nil, &out, &errb); code != 2 {
		t.Fatalf("no flags exited %d, want 2", code)
	}
}

// TestGracefulShutdownFinishesInFlightRequest runs the real binary, sends a
// request the origin takes a second to answer, sends SIGTERM while it is in
// flight, and expects the request to complete and the process to exit 0.
func TestGracefulShutdownFinishesInFlightRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)

	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		io.WriteString(w, "slow answer")
	})

	port := freePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`port: %d
host: 127.0.0.1
shutdown_grace: 10s
plugin_directory: %s
backends:
  - url: http://%s
`, port, filepath.Join(dir, "no-plugins"), origin)
	cfgFile := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd, logs, addr := startBinary(t, bin, cfgFile, port)

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(b), err}
	}()
	time.Sleep(300 * time.Millisecond) // the request is now waiting on the origin
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	select {
	case r := <-done:
		if r.err != nil || r.status != 200 || r.body != "slow answer" {
			t.Fatalf("in-flight request: status %d body %q err %v\nlogs:\n%s", r.status, r.body, r.err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("in-flight request did not finish\nlogs:\n%s", logs.String())
	}

	waitExit(t, cmd, logs)
	if _, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		t.Error("port still accepts connections after exit")
	}
}

// startOrigin serves h on 127.0.0.1 until the test ends and returns its
// address.
func startOrigin(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "spillway")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBinary runs bin on cfgFile, which serves on port, until the test
// ends, and returns it once it listens, with its log (written by the
// process while the test reads it) and its address.
func startBinary(t *testing.T, bin, cfgFile string, port int) (*exec.Cmd, *syncBuffer, string) {
	t.Helper()
	cmd := exec.Command(bin, "-config", cfgFile)
	logs := new(syncBuffer)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr, logs)
	return cmd, logs, addr
}

// waitExit waits, at most 10 s, for the binary to exit after a stop
// signal, and fails the test unless it exits 0.
// stopAndWait sends cmd SIGTERM and waits for it to exit 0.
func stopAndWait(t *testing.T, cmd *exec.Cmd, logs fmt.Stringer) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, logs)
}

func waitExit(t *testing.T, cmd *exec.Cmd, logs fmt.Stringer) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after the stop signal: %v\nlogs:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit within 10s of the stop signal\nlogs:\n%s", logs.String())
	}
}

func waitListening(t *testing.T, addr string, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("spillway never listened on %s\nlogs:\n%s", addr, logs.String())
}

// TestDemoServes starts the binary as `make run` does and fetches both demo
// locations through it. It needs the demo's fixed ports free.
func TestDemoServes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, a := range append([]string{"127.0.0.1:8080"}, demoOrigins...) {
		if c, err := net.DialTimeout("tcp", a, 100*time.Millisecond); err == nil {
			c.Close()
			t.Skipf("%s is in use; the demo needs it", a)
		}
	}
	bin := buildBinary(t)
	cmd := exec.Command(bin, "-demo")
	cmd.Dir = t.TempDir() // no ./plugins here: the demo runs without plugins
	var logs, out bytes.Buffer
	cmd.Stderr, cmd.Stdout = &logs, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	waitListening(t, "127.0.0.1:8080", &logs)

	for _, c := range []struct{ path, want string }{
		{"/", "path: /\n"},
		{"/api/hello?x=1", "path: /v1/hello?x=1\n"},
	} {
		resp, err := http.Get("http://127.0.0.1:8080" + c.path)
		if err != nil {
			t.Fatalf("GET %s: %v\nlogs:\n%s", c.path, err, logs.String())
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "hello from origin-") || !strings.Contains(string(b), c.want) {
			t.Errorf("GET %s: %d %q, want 200 with %q", c.path, resp.StatusCode, b, c.want)
		}
	}
	if !strings.Contains(out.String(), "curl") {
		t.Errorf("the demo printed no curl line: %q", out.String())
	}
}

// buildProbe builds pluginhost/testdata/probe into a new directory, which
// it returns, as the binary buildBinary builds loads it.
func buildProbe(t *testing.T) string {
	t.Helper()
	plugins := t.TempDir()
	build := exec.Command("go", "build", "-buildmode=plugin", "-o", filepath.Join(plugins, "probe.so"), "../../pluginhost/testdata/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the probe plugin: %v\n%s", err, out)
	}
	return plugins
}

// TestSIGHUPReloadsPluginSettings turns a real plugin off with a reload,
// and has a new config block for it refused with its line.
func TestSIGHUPReloadsPluginSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and a plugin")
	}
	bin := buildBinary(t)
	plugins := buildProbe(t)
	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	port := freePort(t)
	settings := "  probe:\n    config: {}\n"
	text := func(settings string) string {
		return fmt.Sprintf("port: %d\nhost: 127.0.0.1\nplugin_directory: %s\nplugins:\n%sbackends:\n  - url: http://%s\n",
			port, plugins, settings, origin)
	}
	cfgFile := filepath.Join(t.TempDir(), "spillway.yaml")
	if err := os.WriteFile(cfgFile, []byte(text(settings)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, logs, addr := startBinary(t, bin, cfgFile, port)
	probed := func() bool {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d\nlogs:\n%s", resp.StatusCode, logs.String())
		}
		return resp.Header.Get("X-Probe-Ctx") != ""
	}
	hup := func(settings, want string) {
		t.Helper()
		before := len(logs.String())
		if err := os.WriteFile(cfgFile, []byte(text(settings)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String()[before:], want); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no log line with %q after SIGHUP\nlogs:\n%s", want, logs.String())
			}
		}
	}
	if !probed() {
		t.Fatal("the plugin did not run at start")
	}
	hup(settings+"    enabled: false\n", "configuration reloaded")
	if probed() {
		t.Errorf("the plugin still runs after a reload disabled it\nlogs:\n%s", logs.String())
	}
	hup("  probe:\n    config: {request: {stop: true}}\n", "spillway.yaml:6: plugins.probe.config: changed")
	if probed() {
		t.Errorf("a refused reload changed the plugin settings\nlogs:\n%s", logs.String())
	}
	stopAndWait(t, cmd, logs)
}

// TestSignalRunsPluginCleanupWithinTheGrace runs the real binary with a
// real plugin and JSON logs, stops it with SIGINT or SIGTERM, and expects
// every log line to be JSON, the plugin's Cleanup to run exactly once and
// exit 0; and, with a Cleanup that hangs behind a request that uses the
// whole grace period, the process still to exit in about shutdown_grace.
func TestSignalRunsPluginCleanupWithinTheGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and a plugin")
	}
	bin := buildBinary(t)
	plugins := buildProbe(t)
	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(10 * time.Second)
		}
		io.WriteString(w, "ok")
	})

	tests := []struct {
		desc         string
		sig          syscall.Signal
		cleanupSleep string
		slowRequest  bool
		maxExit      time.Duration // from the signal
	}{
		{"SIGINT", syscall.SIGINT, "", false, 3 * time.Second},
		{"SIGTERM", syscall.SIGTERM, "", false, 3 * time.Second},
		// The 4s grace used up by the request, then the 1s cleanup floor
		// (a fresh grace for Cleanup would make it 8s).
		{"hanging Cleanup after a request that used the grace", syscall.SIGTERM, "30s", true, 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			cleanupFile := filepath.Join(dir, "cleanup")
			port := freePort(t)
			cfg := fmt.Sprintf(`port: %d
host: 127.0.0.1
shutdown_grace: 4s
log: {format: json}
plugin_directory: %s
plugins:
  probe:
    config: {cleanup_file: %q, cleanup_sleep: %q}
backends:
  - url: http://%s
`, port, plugins, cleanupFile, tc.cleanupSleep, origin)
			cfgFile := filepath.Join(dir, "spillway.yaml")
			if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd, logs, addr := startBinary(t, bin, cfgFile, port)

			resp, err := http.Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Probe-Ctx") != "from-request-/" {
				t.Fatalf("through the plugin: status %d, X-Probe-Ctx %q", resp.StatusCode, resp.Header.Get("X-Probe-Ctx"))
			}
			if tc.slowRequest {
				go http.Get("http://" + addr + "/slow")
				time.Sleep(300 * time.Millisecond)
			}
			sent := time.Now()
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("exit: %v\nlogs:\n%s", err, logs.String())
				}
			case <-time.After(tc.maxExit + 5*time.Second):
				t.Fatalf("no exit %v after %s\nlogs:\n%s", tc.maxExit+5*time.Second, tc.desc, logs.String())
			}
			if took := time.Since(sent); took > tc.maxExit {
				t.Errorf("exit %v after the signal, want at most %v", took, tc.maxExit)
			}
			got, _ := os.ReadFile(cleanupFile)
			if want := "cleanup\n"; tc.cleanupSleep == "" && string(got) != want {
				t.Errorf("cleanup file %q, want Cleanup run exactly once (%q)", got, want)
			}
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var v map[string]any
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Errorf("log line is not JSON: %q", line)
				}
			}
			if tc.cleanupSleep != "" && !strings.Contains(logs.String(), "cut short") {
				t.Errorf("a hanging Cleanup was not reported\nlogs:\n%s", logs.String())
			}
		})
	}
}

// plainConfig writes a configuration serving origin on a free port of
// 127.0.0.1 without plugins, and returns its path, its text and the port.
func plainConfig(t *testing.T, origin string) (file, text string, port int) {
	t.Helper()
	port = freePort(t)
	dir := t.TempDir()
	text = fmt.Sprintf(`port: %d
host: 127.0.0.1
plugin_directory: %s
backends:
  - url: http://%s
`, port, filepath.Join(dir, "no-plugins"), origin)
	file = filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, text, port
}

// metricsConfig is plainConfig with metrics.listen on a port of its own,
// maddr, in front of an origin that answers "ok", after 1.5 s on /slow.
func metricsConfig(t *testing.T) (file string, port int, maddr string) {
	t.Helper()
	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(1500 * time.Millisecond)
		}
		io.WriteString(w, "ok")
	})
	file, cfg, port := plainConfig(t, origin)
	maddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if err := os.WriteFile(file, []byte(cfg+"metrics:\n  listen: "+maddr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, port, maddr
}

// syncBuffer is a bytes.Buffer the child's stderr and the test may use at
// once.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// TestSIGHUPReloads sends the real binary SIGHUP while a request is in
// flight (Go's default would end the process at once) after pointing the
// file at another origin. The request must complete from the first
// origin, new ones must reach the second, a broken edit must be reported
// with its line and change nothing, so must an edit only a restart can
// apply, and SIGTERM must still stop it cleanly.
func TestSIGHUPReloads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(time.Second)
		}
		io.WriteString(w, "answer "+r.URL.Path)
	})
	second := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "second "+r.URL.Path)
	})
	cfgFile, cfg, port := plainConfig(t, origin)
	cmd, logs, addr := startBinary(t, bin, cfgFile, port)

	get := func(path string) (string, error) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("status %d", resp.StatusCode)
		}
		return string(b), err
	}
	hup := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	seen := 0 // bytes of the log already matched, so each wait sees only new lines
	waitLog := func(want ...string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			out := logs.String()
			all := true
			for _, w := range want {
				all = all && strings.Contains(out[seen:], w)
			}
			if all {
				seen = len(out)
				return
			}
		}
		t.Fatalf("no new log lines with %q\nlogs:\n%s", want, logs.String())
	}

	slow := make(chan error, 1)
	go func() {
		body, err := get("/slow")
		if err == nil && body != "answer /slow" {
			err = fmt.Errorf("body %q", body)
		}
		slow <- err
	}()
	time.Sleep(300 * time.Millisecond) // the request now waits on the origin
	moved := strings.Replace(cfg, origin, second, 1)
	hup(moved)
	waitLog("configuration reloaded", "backends_added=http://"+second, "backends_removed=http://"+origin)
	if body, err := get("/after"); err != nil || body != "second /after" {
		t.Fatalf("request after SIGHUP: %q, %v\nlogs:\n%s", body, err, logs.String())
	}
	select {
	case err := <-slow:
		if err != nil {
			t.Fatalf("request in flight at SIGHUP: %v\nlogs:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("request in flight at SIGHUP never finished")
	}

	// A broken edit is reported with its line, and changes nothing.
	hup(strings.Replace(cfg, "backends:", "algoritm: round-robin\nbackends:", 1))
	waitLog("spillway.yaml:4: algoritm", "not reloaded")
	// Nor do edits that only a restart applies, in the proxy and outside it.
	hup(moved + "limits:\n  max_header_bytes: 4096\n")
	waitLog("spillway.yaml:7: limits.max_header_bytes", "restart is needed")
	hup(strings.Replace(moved, "no-plugins", "other-plugins", 1))
	waitLog("spillway.yaml:3: plugin_directory", "restart is needed")
	if body, err := get("/again"); err != nil || body != "second /again" {
		t.Fatalf("request after refused reloads: %q, %v\nlogs:\n%s", body, err, logs.String())
	}

	stopAndWait(t, cmd, logs)
}

// TestRunningOutOfFileDescriptorsIsSurvived runs the real binary under a
// low open-files limit and opens more client connections than it allows,
// so accept fails with EMFILE. (fasthttp's server gives a listener up for
// good on such an error, leaving the port queueing connections nobody
// serves.) Once those connections close, the proxy must serve again, and
// the log must have said what happened.
func TestRunningOutOfFileDescriptorsIsSurvived(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	cfgFile, _, port := plainConfig(t, origin)
	// ulimit -n sets the hard limit too, so Go cannot raise it at start.
	const limit = 48
	cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" -config "$1"`, limit), bin, cfgFile)
	logs := new(syncBuffer)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr, logs)
	get := func() error {
		c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "ok" {
			return fmt.Errorf("status %d body %q", resp.StatusCode, b)
		}
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("before the flood: %v\nlogs:\n%s", err, logs.String())
	}

	// The kernel completes these handshakes whatever the process can
	// accept; past the limit they wait in the listen queue.
	var held []net.Conn
	for range 2 * limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "cannot accept"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no accept failure logged with %d connections under a limit of %d\nlogs:\n%s", len(held), limit, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "too many open files") {
		t.Errorf("the accept failure does not name its cause\nlogs:\n%s", logs.String())
	}
	for _, c := range held {
		c.Close()
	}

	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = get(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("after the connections closed the proxy still does not serve: %v\nlogs:\n%s", err, logs.String())
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "accepting connections again"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the recovery was not logged\nlogs:\n%s", logs.String())
		}
	}
	if strings.Contains(logs.String(), "listener stopped") {
		t.Errorf("a listener stopped\nlogs:\n%s", logs.String())
	}
}

// TestAccessLogSurvivesRotation runs the real binary with an access log,
// renames the file as logrotate does and sends SIGUSR1 (Go's default would
// end the process): the lines before stay in the renamed file, those after
// go to a new file at the path, and SIGTERM flushes the last ones.
func TestAccessLogSurvivesRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "answer "+r.URL.Path)
	})
	cfgFile, cfg, port := plainConfig(t, origin)
	logFile := filepath.Join(filepath.Dir(cfgFile), "access.log")
	if err := os.WriteFile(cfgFile, []byte(cfg+"access_log:\n  path: "+logFile+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, logs, addr := startBinary(t, bin, cfgFile, port)
	get := func(path string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	waitFor := func(file, want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if b, _ := os.ReadFile(file); strings.Contains(string(b), want) {
				return
			}
		}
		b, _ := os.ReadFile(file)
		t.Fatalf("%s has no %q:\n%s\nlogs:\n%s", file, want, b, logs.String())
	}

	get("/before")
	waitFor(logFile, `"GET /before HTTP/1.1" 200`)
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "access log reopened"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reopen logged\nlogs:\n%s", logs.String())
		}
	}
	get("/after")
	waitFor(logFile, `"GET /after HTTP/1.1" 200`)
	get("/last")
	stopAndWait(t, cmd, logs)
	old, _ := os.ReadFile(logFile + ".1")
	cur, _ := os.ReadFile(logFile)
	if strings.Contains(string(old), "/after") || strings.Contains(string(cur), "/before") {
		t.Errorf("lines in the wrong file:\nrotated:\n%s\nnew:\n%s", old, cur)
	}
	if !strings.Contains(string(cur), `"GET /last HTTP/1.1" 200`) {
		t.Errorf("the last line was lost at shutdown:\n%s", cur)
	}
}

// TestMetricsEndpoint runs the real binary with metrics.listen set: GET
// /metrics there answers in Prometheus' text format and counts the
// requests the proxy answered; GET /ready is 200 while it serves and 503
// as soon as SIGTERM begins the shutdown, while a request in flight still
// completes.
func TestMetricsEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	cfgFile, port, maddr := metricsConfig(t)
	cmd, logs, addr := startBinary(t, bin, cfgFile, port)
	for range 2 {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, logs.String())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf(`spillway_requests_total{port="%d",code="2xx"} 2`, port)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") ||
		!strings.Contains(string(body), want) || !strings.Contains(string(body), `spillway_backend_up{service="default",location="/"`) {
		t.Errorf("GET /metrics: %d %s, want a line %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), want, body)
	}
	if want := fmt.Sprintf("spillway_build_info{version=%q,go_version=%q} 1\n", "dev", runtime.Version()); !strings.Contains(string(body), want) {
		t.Errorf("GET /metrics: no line %q\n%s", want, body)
	}
	var started float64
	if _, v, ok := strings.Cut(string(body), "\nprocess_start_time_seconds "); !ok {
		t.Errorf("GET /metrics: no process_start_time_seconds\n%s", body)
	} else if _, err := fmt.Sscanf(v, "%g", &started); err != nil {
		t.Errorf("process_start_time_seconds: %v", err)
	}
	if at := time.UnixMilli(int64(started * 1e3)); time.Since(at) > time.Minute || time.Until(at) > time.Second {
		t.Errorf("process_start_time_seconds %.3f is not the start of a process begun a moment ago", started)
	}

	ready := func() int { return getStatus("http://" + maddr + "/ready") }
	if code := ready(); code != 200 {
		t.Fatalf("GET /ready while serving: %d", code)
	}
	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	time.Sleep(300 * time.Millisecond) // the request now waits on the origin
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Second); ready() != 503; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("GET /ready not 503 within 1s of SIGTERM\nlogs:\n%s", logs.String())
		}
	}
	if code := <-slow; code != 200 {
		t.Errorf("request in flight at SIGTERM: %d", code)
	}
	waitExit(t, cmd, logs)
}

// TestShutdownDelayKeepsServingWhileNotReady runs the real binary with
// shutdown_delay: after SIGTERM, /ready is 503 at once while the proxy
// still answers, each answer closing its connection, for about the delay;
// then it stops and exits 0.
func TestShutdownDelayKeepsServingWhileNotReady(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	cfgFile, cfg, port := plainConfig(t, origin)
	maddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	extra := "shutdown_delay: 1500ms\nmetrics:\n  listen: " + maddr + "\n"
	if err := os.WriteFile(cfgFile, []byte(cfg+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, logs, addr := startBinary(t, bin, cfgFile, port)
	client := &http.Client{Timeout: 5 * time.Second}
	status := func(url string) (code int, closed bool) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Close // net/http takes Connection: close out of Header
	}
	if code, _ := status("http://" + maddr + "/ready"); code != 200 {
		t.Fatalf("/ready before SIGTERM: %d", code)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, _ := status("http://" + maddr + "/ready"); code == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready not 503 within 1s of SIGTERM\nlogs:\n%s", logs.String())
		}
	}
	if code, closed := status("http://" + addr + "/"); code != 200 || !closed {
		t.Errorf("answer during the delay: %d, Connection: close %v; want 200 and close", code, closed)
	}
	waitExit(t, cmd, logs)
	if took := time.Since(start); took < 1400*time.Millisecond {
		t.Errorf("exited %v after SIGTERM, before the 1.5s delay", took)
	}
}
