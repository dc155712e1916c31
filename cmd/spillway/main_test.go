package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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

	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		io.WriteString(w, "slow answer")
	})}
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go origin.Serve(oln)
	defer origin.Close()

	port := freePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`port: %d
host: 127.0.0.1
shutdown_grace: 10s
plugin_directory: %s
backends:
  - url: http://%s
`, port, filepath.Join(dir, "no-plugins"), oln.Addr())
	cfgFile := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-config", cfgFile)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr, &logs)

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

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("spillway exited with %v\nlogs:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("spillway did not exit after SIGTERM\nlogs:\n%s", logs.String())
	}
	if _, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		t.Error("port still accepts connections after exit")
	}
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

func waitListening(t *testing.T, addr string, logs *bytes.Buffer) {
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
