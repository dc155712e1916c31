package fastproxy

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// pathChildEnv names the config file the child proxy serves; set only in
// the child started by TestStreamingKeepsMemoryBounded.
const pathChildEnv = "SPILLWAY_PATH_STREAM_CHILD"

// pathStreamBytes is the size streamed each way; SPILLWAY_STREAM_BYTES
// raises it (1073741824 for the README's 1 GiB figure).
func pathStreamBytes(t *testing.T) int64 {
	if s := os.Getenv("SPILLWAY_STREAM_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if pathRace {
		return 64 << 20
	}
	return 256 << 20
}

// TestPathStreamChild is the proxy process of TestStreamingKeepsMemoryBounded,
// so its memory can be measured alone. Run directly, it skips.
func TestPathStreamChild(t *testing.T) {
	file := os.Getenv(pathChildEnv)
	if file == "" {
		t.Skip("only runs as the child of TestStreamingKeepsMemoryBounded")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cfg configs.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	px := pathStartProxy(t, &cfg, Options{})
	fmt.Printf("PATHCHILD ADDR %s\n", px.Addr)
	// The parent closes stdin when done (or dies); the deadline is a backstop.
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
	}
}

// pathRandom is a deterministic stream of n pseudo-random bytes.
func pathRandom(n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{7}), n)
}

func TestStreamingKeepsMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("streams hundreds of MiB")
	}
	size := pathStreamBytes(t)
	// What the origin sent, by path; the handler finishes after the client
	// may have read the last byte, hence a channel.
	sent := map[string]chan string{"/download": make(chan string, 1), "/download-chunked": make(chan string, 1)}
	origin := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		switch r.URL.Path {
		case "/download":
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			io.Copy(io.MultiWriter(w, h), pathRandom(size))
		case "/download-chunked":
			io.Copy(io.MultiWriter(w, h), pathRandom(size)) // no length: chunked
		case "/upload":
			n, _ := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
			return
		}
		sent[r.URL.Path] <- hex.EncodeToString(h.Sum(nil))
	})

	cfg := configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin.URL))}}
	file := filepath.Join(t.TempDir(), "spillway.json")
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPathStreamChild$", "-test.count=1", "-test.timeout=15m")
	cmd.Env = append(os.Environ(), pathChildEnv+"="+file)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	addr := ""
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		if a, ok := strings.CutPrefix(sc.Text(), "PATHCHILD ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatal("child proxy did not start")
	}
	go io.Copy(io.Discard, stdout)
	client := pathClient()
	client.Timeout = 10 * time.Minute

	for _, path := range []string{"/download", "/download-chunked"} {
		t.Run("GET "+path, func(t *testing.T) {
			start := time.Now()
			resp, err := client.Get("http://" + addr + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			if err != nil || n != size {
				t.Fatalf("read %d of %d bytes: %v", n, size, err)
			}
			var want string
			select {
			case want = <-sent[path]:
			case <-time.After(10 * time.Second):
				t.Fatal("origin never finished sending")
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != want {
				t.Fatalf("sha256 %s, origin sent %s", got, want)
			}
			t.Logf("%d MiB in %v", size>>20, time.Since(start).Round(time.Millisecond))
		})
	}
	for _, chunked := range []bool{true, false} {
		t.Run(fmt.Sprintf("upload chunked=%v", chunked), func(t *testing.T) {
			start := time.Now()
			h := sha256.New()
			req, _ := http.NewRequest("POST", "http://"+addr+"/upload", struct{ io.Reader }{io.TeeReader(pathRandom(size), h)})
			if !chunked {
				req.ContentLength = size
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if want := fmt.Sprintf("%d %x", size, h.Sum(nil)); string(got) != want {
				t.Fatalf("origin got %q, sent %q", got, want)
			}
			t.Logf("%d MiB in %v", size>>20, time.Since(start).Round(time.Millisecond))
		})
	}

	hwm := pathVmHWM(t, cmd.Process.Pid)
	t.Logf("proxy peak RSS (VmHWM) %d MiB after streaming %d MiB each way", hwm>>20, size>>20)
	if hwm > 100<<20 {
		t.Errorf("proxy peak RSS %d MiB, want < 100 MiB", hwm>>20)
	}
}

// pathVmHWM reads a process's peak resident set size from /proc.
func pathVmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
