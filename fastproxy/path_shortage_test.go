package fastproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// exhaustDescriptors lowers the process's open-files limit to just above
// what is open and fills it with /dev/null, so the next socket fails with
// EMFILE; the returned func gives both back. Tests using it must not run
// in parallel: the limit is the whole test binary's.
func exhaustDescriptors(t *testing.T) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open descriptors: %v", err)
	}
	low := old
	low.Cur = uint64(len(fds) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var filler []*os.File
	restore = func() {
		for _, f := range filler {
			f.Close()
		}
		filler = nil
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) //nolint:errcheck // raising back to what it was
	}
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !strings.Contains(err.Error(), "too many open files") {
				restore()
				t.Fatalf("filling descriptors: %v", err)
			}
			return restore
		}
		filler = append(filler, f)
	}
}

// TestDescriptorShortageIsNotBlamedOnTheBackend: when the proxy cannot
// open a socket to the backend because it is out of descriptors, the
// client gets 503 saying so, and the backend gets no verdict. Passive
// health ejects after one failure here, so blaming the backend would
// answer the next requests "no backend available" for the whole backoff
// once descriptors are back.
func TestDescriptorShortageIsNotBlamedOnTheBackend(t *testing.T) {
	// The origin closes every connection, so each request makes the
	// proxy dial anew.
	origin := pathRawOrigin(t, func(c net.Conn) {
		if _, err := pathReadHead(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	})
	px := pathStartProxy(t, &configs.Config{
		Services:      []configs.Service{pathService("", pathLoc("/", origin))},
		PassiveHealth: configs.PassiveHealth{FailureThreshold: 1, Backoff: configs.Duration(time.Minute)},
	}, Options{Logger: edgeTestLogger()})
	c := edgeDial(t, px.Addr) // accepted before the shortage
	br := bufio.NewReader(c)
	get := func() (int, string) {
		t.Helper()
		fmt.Fprint(c, "GET /x HTTP/1.1\r\nHost: front.example\r\n\r\n")
		resp, body := edgeRead(t, br, "GET")
		return resp.StatusCode, body
	}
	if st, body := get(); st != 200 || body != "ok" {
		t.Fatalf("before the shortage: %d %q", st, body)
	}

	restore := exhaustDescriptors(t)
	st, body := get()
	restore()
	if st != 503 || body != msgNoResources+"\n" {
		t.Errorf("out of descriptors: %d %q, want 503 %q", st, body, msgNoResources)
	}
	for i := range 3 {
		if st, body := get(); st != 200 || body != "ok" {
			t.Fatalf("request %d after the shortage: %d %q, want the backend's answer (was it ejected?)", i+1, st, body)
		}
	}
}

// TestDescriptorShortageDoesNotFailHealthChecks: active checks that cannot
// open a socket for lack of descriptors count neither way, so a healthy
// backend is still in rotation the moment descriptors are back (one failed
// check takes it out here, and three passes at 200ms would bring it back).
func TestDescriptorShortageDoesNotFailHealthChecks(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	px := pathStartProxy(t, &configs.Config{
		Services: []configs.Service{pathService("", pathLoc("/", o.URL))},
		HealthCheck: &configs.HealthCheck{
			Interval:   configs.Duration(200 * time.Millisecond),
			Timeout:    configs.Duration(time.Second),
			Thresholds: configs.Thresholds{Healthy: 3, Unhealthy: 1},
		},
	}, Options{Logger: edgeTestLogger()})
	if resp, body := pathDo(t, px, "GET", "front.example", "/x", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("before the shortage: %d %q", resp.StatusCode, body)
	}
	c := edgeDial(t, px.Addr) // the request after the shortage needs no new descriptor
	br := bufio.NewReader(c)

	restore := exhaustDescriptors(t)
	time.Sleep(500 * time.Millisecond) // two or three checks
	restore()
	fmt.Fprint(c, "GET /x HTTP/1.1\r\nHost: front.example\r\n\r\n")
	if resp, body := edgeRead(t, br, "GET"); resp.StatusCode != 200 {
		t.Errorf("after the shortage: %d %q, want the backend's answer (was it marked down?)", resp.StatusCode, body)
	}
}
