package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSIGUSR2UpgradesWithoutLosingARequest upgrades the real binary twice,
// the second time to a new build, under continuous keep-alive load, as systemd would run it (Type=notify,
// a pid file): no request may fail, a request in flight on the old
// process must finish there, the pid file and systemd must learn each new
// process, the old one must exit 0, and the metrics port must carry over
// with the proxy's.
func TestSIGUSR2UpgradesWithoutLosingARequest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	cfgFile, port, maddr := metricsConfig(t)
	dir := t.TempDir()
	notify := listenNotify(t, filepath.Join(dir, "notify"))
	pidPath := filepath.Join(dir, "spillway.pid")
	cmd, logs, addr := startUpgradable(t, bin, cfgFile, pidPath, port, "NOTIFY_SOCKET="+notify.path)
	first := waitPID(t, pidPath, 0, logs)
	if first != cmd.Process.Pid {
		t.Fatalf("pid file holds %d, want %d", first, cmd.Process.Pid)
	}
	notify.want(t, "READY=1", logs)

	clients := startLoad(t, "http://"+addr+"/", 4)
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	time.Sleep(300 * time.Millisecond) // the slow request now waits on the origin, in the first process

	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	second := waitPID(t, pidPath, first, logs)
	notify.want(t, fmt.Sprintf("MAINPID=%d", second), logs)
	waitExit(t, cmd, logs)
	if got := <-slow; got != "200 ok" {
		t.Errorf("request in flight on the old process: %s, want 200 ok\nlogs:\n%s", got, logs)
	}
	if code := getStatus("http://" + maddr + "/ready"); code != 200 {
		t.Errorf("GET /ready on the new process: %d, want 200", code)
	}
	if !strings.Contains(logs.String(), "took over from the old process") || !strings.Contains(logs.String(), "sockets=2") {
		t.Errorf("the new process did not log taking over both sockets\nlogs:\n%s", logs)
	}

	// The new process upgrades in turn, to a new build installed over
	// the running one's file as a package manager does (a new file
	// renamed into place): the successor must be the new build, and what
	// the second process inherited must not confuse its own successor.
	next := exec.Command("go", "build", "-o", bin+".new", "-ldflags", "-X main.version=upgraded-build", ".")
	next.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := next.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(second, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	third := waitPID(t, pidPath, second, logs)
	notify.want(t, fmt.Sprintf("MAINPID=%d", third), logs)
	waitGone(t, second, logs)
	if !strings.Contains(logs.String(), "version=upgraded-build") {
		t.Errorf("the last upgrade did not start the newly installed build\nlogs:\n%s", logs)
	}
	if m := getBody("http://" + maddr + "/metrics"); !strings.Contains(m, `spillway_build_info{version="upgraded-build"`) {
		t.Errorf("the metrics port is not answered by the new build:\n%s", m)
	}
	time.Sleep(200 * time.Millisecond)

	ok, failed := clients.stop()
	if len(failed) > 0 {
		t.Errorf("%d of %d requests failed across two upgrades; first: %s\nlogs:\n%s", len(failed), ok+len(failed), failed[0], logs)
	}
	if ok < 100 {
		t.Errorf("only %d requests were served during the test", ok)
	}
	if n := strings.Count(logs.String(), "msg=stopped"); n != 2 {
		t.Errorf("%d processes logged stopped, want the 2 old ones\nlogs:\n%s", n, logs)
	}

	if err := syscall.Kill(third, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitGone(t, third, logs)
	if _, err := os.Stat(pidPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left after the last process stopped: %v", err)
	}
}

// TestFailedUpgradeKeepsServing breaks the configuration and then sends
// SIGUSR2: the new process must fail to start, and the old one log why,
// keep its pid file and go on serving until SIGTERM.
func TestFailedUpgradeKeepsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	cfgFile, cfg, port := plainConfig(t, origin)
	pidPath := filepath.Join(t.TempDir(), "spillway.pid")
	cmd, logs, addr := startUpgradable(t, bin, cfgFile, pidPath, port)
	pid := waitPID(t, pidPath, 0, logs)

	if err := os.WriteFile(cfgFile, []byte(cfg+"bogus_key: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "upgrade failed"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no upgrade failure logged within 10s\nlogs:\n%s", logs)
		}
	}
	if !strings.Contains(logs.String(), "bogus_key") {
		t.Errorf("the log does not name the bad key\nlogs:\n%s", logs)
	}
	if got := waitPID(t, pidPath, 0, logs); got != pid {
		t.Errorf("pid file holds %d after the failed upgrade, want %d", got, pid)
	}
	if code := getStatus("http://" + addr + "/"); code != 200 {
		t.Errorf("GET after the failed upgrade: %d, want 200\nlogs:\n%s", code, logs)
	}
	stopAndWait(t, cmd, logs)
}

// TestStopDuringUpgradeStopsBoth sends SIGTERM while the new process of
// an upgrade is still starting: the operator means the service to stop,
// so the old process must stop the new one and exit 0 itself.
func TestStopDuringUpgradeStopsBoth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd, logs, _, next := startStalledUpgrade(t, "")
	stopAndWait(t, cmd, logs)
	waitGone(t, next, logs)
	if !strings.Contains(logs.String(), "stop signal during an upgrade") {
		t.Errorf("the old process did not log stopping the new one\nlogs:\n%s", logs)
	}
}

// TestUpgradeTimeoutKeepsServing lets the new process of an upgrade
// overrun upgrade_timeout: the old one must stop it, log why, and go on
// serving.
func TestUpgradeTimeoutKeepsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd, logs, addr, next := startStalledUpgrade(t, "upgrade_timeout: 1s\n")
	waitGone(t, next, logs)
	if l := logs.String(); !strings.Contains(l, "upgrade failed") || !strings.Contains(l, "not serving after 1s (upgrade_timeout)") {
		t.Errorf("the old process did not log the timeout\nlogs:\n%s", l)
	}
	if code := getStatus("http://" + addr + "/"); code != 200 {
		t.Errorf("GET after the timed-out upgrade: %d, want 200\nlogs:\n%s", code, logs)
	}
	stopAndWait(t, cmd, logs)
}

// startStalledUpgrade starts the binary and sends it SIGUSR2, with a new
// process that never serves: the configuration (plainConfig's, and
// extra) is a named pipe, which the test feeds once, so the new process
// blocks opening it. It returns once the new process waits there, with
// its PID.
func startStalledUpgrade(t *testing.T, extra string) (cmd *exec.Cmd, logs fileLog, addr string, next int) {
	t.Helper()
	bin := buildBinary(t)
	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	plain, cfg, port := plainConfig(t, origin)
	fifo := filepath.Join(filepath.Dir(plain), "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	fed := make(chan error, 1)
	go func() { fed <- os.WriteFile(fifo, []byte(cfg+extra), 0o600) }() // opens once the process reads
	cmd, logs, addr = startUpgradable(t, bin, fifo, filepath.Join(t.TempDir(), "spillway.pid"), port)
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	const started = "the new process is starting\""
	for deadline := time.Now().Add(10 * time.Second); next == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no upgrade started within 10s\nlogs:\n%s", logs)
		}
		if _, line, ok := strings.Cut(logs.String(), started); ok {
			if _, v, ok := strings.Cut(line, " new_pid="); ok {
				fmt.Sscanf(v, "%d", &next)
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // it now waits on the pipe
	if strings.Contains(logs.String(), "upgrade failed") {
		t.Fatalf("the new process ended at once\nlogs:\n%s", logs)
	}
	return cmd, logs, addr, next
}

// TestPID1DoesNotUpgrade runs the binary as the first process of a PID
// namespace, as in a container: its exit would end the container, so
// SIGUSR2 must be refused with a warning and the process go on serving.
func TestPID1DoesNotUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if err := exec.Command("unshare", "--pid", "--fork", "true").Run(); err != nil {
		t.Skipf("no PID namespace for this user (unshare: %v)", err)
	}
	bin := buildBinary(t)
	origin := startOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	cfgFile, _, port := plainConfig(t, origin)
	logs := fileLog(filepath.Join(t.TempDir(), "spillway.log"))
	f, err := os.Create(string(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("unshare", "--pid", "--fork", "--kill-child", bin, "-config", cfgFile)
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr, logs)
	// unshare's one child is the proxy, PID 1 inside, another PID here.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("children of unshare: %q", b)
	}

	if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "is PID 1"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged within 10s\nlogs:\n%s", logs)
		}
	}
	if strings.Contains(logs.String(), "the new process is starting") {
		t.Errorf("PID 1 started an upgrade\nlogs:\n%s", logs)
	}
	if code := getStatus("http://" + addr + "/"); code != 200 {
		t.Errorf("GET after the refused upgrade: %d, want 200\nlogs:\n%s", code, logs)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, logs)
}

func TestWithoutUpgradeEnv(t *testing.T) {
	env := []string{"HOME=/root", socketsEnv + "=127.0.0.1:80", "SPILLWAY_SOCKETS_X=1", readyEnv + "=5", "PATH=/bin"}
	got := withoutUpgradeEnv(env)
	want := []string{"HOME=/root", "SPILLWAY_SOCKETS_X=1", "PATH=/bin"}
	if !slices.Equal(got, want) {
		t.Errorf("withoutUpgradeEnv = %q, want %q", got, want)
	}
	if env[1] != socketsEnv+"=127.0.0.1:80" {
		t.Errorf("withoutUpgradeEnv changed its argument: %q", env)
	}
}

// startUpgradable runs bin as startBinary does, with -pid-file and env
// added, but logs to a file: a pipe would keep Wait waiting for the
// successors, which inherit it. Every process that holds the pid file
// when the test ends is killed.
func startUpgradable(t *testing.T, bin, cfgFile, pidPath string, port int, env ...string) (*exec.Cmd, fileLog, string) {
	t.Helper()
	logs := fileLog(filepath.Join(t.TempDir(), "spillway.log"))
	f, err := os.Create(string(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "-config", cfgFile, "-pid-file", pidPath)
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		if b, err := os.ReadFile(pidPath); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr, logs)
	return cmd, logs, addr
}

// fileLog is a log file the processes write and the test reads.
type fileLog string

func (l fileLog) String() string {
	b, _ := os.ReadFile(string(l))
	return string(b)
}

// waitPID waits, at most 10 s, for the pid file to hold a process ID
// other than not, and returns it.
func waitPID(t *testing.T, path string, not int, logs fmt.Stringer) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != not {
			return pid
		}
	}
	t.Fatalf("pid file %s never held a process other than %d\nlogs:\n%s", path, not, logs)
	return 0
}

// waitGone waits, at most 10 s, for a process that is not the test's
// child to end. Its parent is gone, and whoever adopted it may not reap
// it: a zombie counts as ended.
func waitGone(t *testing.T, pid int, logs fmt.Stringer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		// The state follows the command name, which is in parentheses.
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i:]), ") Z") {
			return
		}
	}
	t.Fatalf("process %d still running after 10s\nlogs:\n%s", pid, logs)
}

func getBody(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func getStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// clientLoad sends GETs over keep-alive connections, as fast as they are
// answered, until stopped.
type clientLoad struct {
	quit   chan struct{}
	wg     sync.WaitGroup
	ok     atomic.Int64
	mu     sync.Mutex
	failed []string
}

func startLoad(t *testing.T, url string, conns int) *clientLoad {
	l := &clientLoad{quit: make(chan struct{})}
	for range conns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			// Its own transport, so each goroutine keeps one connection
			// alive across the upgrades. Like any HTTP client, it retries
			// a GET on a reused connection the server closed when idle
			// (RFC 9112 section 9.3.1).
			c := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
			defer c.CloseIdleConnections()
			for {
				select {
				case <-l.quit:
					return
				default:
				}
				resp, err := c.Get(url)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || string(b) != "ok") {
						err = fmt.Errorf("%d %q", resp.StatusCode, b)
					}
				}
				if err != nil {
					l.mu.Lock()
					l.failed = append(l.failed, err.Error())
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// stop ends the load and returns how many requests succeeded and how the
// others failed.
func (l *clientLoad) stop() (int, []string) {
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.ok.Load()), l.failed
}

// notifySocket is a stand-in for systemd's notification socket.
type notifySocket struct {
	path string
	got  chan string
}

func listenNotify(t *testing.T, path string) *notifySocket {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	n := &notifySocket{path: path, got: make(chan string, 16)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.got <- string(buf[:k])
		}
	}()
	return n
}

// want fails the test unless the next notification, within 10 s, is
// state.
func (n *notifySocket) want(t *testing.T, state string, logs fmt.Stringer) {
	t.Helper()
	select {
	case got := <-n.got:
		if got != state {
			t.Errorf("systemd notification %q, want %q", got, state)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no systemd notification %q within 10s\nlogs:\n%s", state, logs)
	}
}
