package fastproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// reloadConfig is a configuration for pathStartProxy and Reload: every
// service on the one ephemeral port of 127.0.0.1.
func reloadConfig(services ...configs.Service) *configs.Config {
	for i := range services {
		services[i].Port = 0
	}
	return &configs.Config{Host: "127.0.0.1", Services: services}
}

// reloadGet sends a GET for host on c and returns the origin that
// answered (its X-Origin) and the status.
func reloadGet(t *testing.T, c net.Conn, br *bufio.Reader, host, target string) (string, int) {
	t.Helper()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, host)
	resp, _ := edgeRead(t, br, http.MethodGet)
	return resp.Header.Get("X-Origin"), resp.StatusCode
}

func TestReloadServesTheNextRequestOnAKeptConnectionWithTheNewConfig(t *testing.T) {
	a, b, c := pathEchoOrigin(t, "a"), pathEchoOrigin(t, "b"), pathEchoOrigin(t, "c")
	px := pathStartProxy(t, reloadConfig(pathService("one.test", pathLoc("/", a.URL))), Options{Logger: edgeTestLogger()})

	conn := edgeDial(t, px.Addr)
	br := bufio.NewReader(conn)
	if got, status := reloadGet(t, conn, br, "one.test", "/"); got != "a" || status != 200 {
		t.Fatalf("before reload: origin %q, status %d; want a, 200", got, status)
	}
	if _, status := reloadGet(t, conn, br, "two.test", "/"); status != http.StatusNotFound {
		t.Fatalf("unknown host before reload: %d, want 404", status)
	}

	next := reloadConfig(
		pathService("one.test", pathLoc("/", b.URL), pathLoc("/api/", c.URL)),
		pathService("two.test", pathLoc("/", c.URL)))
	if err := px.srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, target, want string }{
		{"one.test", "/", "b"}, {"one.test", "/api/x", "c"}, {"two.test", "/", "c"},
	} {
		if got, status := reloadGet(t, conn, br, tc.host, tc.target); got != tc.want || status != 200 {
			t.Errorf("after reload, %s%s on the kept connection: origin %q, status %d; want %s, 200",
				tc.host, tc.target, got, status, tc.want)
		}
	}
	if n := a.Hits.Load(); n != 1 {
		t.Errorf("the replaced origin got %d requests, want only the first", n)
	}
}

func TestReloadLetsARequestInFlightFinishOnTheOldConfig(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Bool
	slow := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		started.Store(true)
		<-release
		w.Header().Set("X-Origin", "slow")
		w.Write(bytes.Repeat([]byte("s"), 100_000))
	})
	fresh := pathEchoOrigin(t, "fresh")
	px := pathStartProxy(t, reloadConfig(pathService("one.test", pathLoc("/", slow.URL))), Options{Logger: edgeTestLogger()})

	type answer struct {
		origin, body string
		status       int
	}
	done := make(chan answer, 1)
	go func() {
		resp, body := pathDo(t, px, "GET", "one.test", "/", nil, nil)
		done <- answer{resp.Header.Get("X-Origin"), body, resp.StatusCode}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !started.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the origin")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := px.srv.Reload(reloadConfig(pathService("one.test", pathLoc("/", fresh.URL)))); err != nil {
		t.Fatal(err)
	}
	if resp, _ := pathDo(t, px, "GET", "one.test", "/", nil, nil); resp.Header.Get("X-Origin") != "fresh" {
		t.Errorf("a request after the reload went to %q, want fresh", resp.Header.Get("X-Origin"))
	}
	close(release)
	select {
	case got := <-done:
		if got.status != 200 || got.origin != "slow" || len(got.body) != 100_000 {
			t.Errorf("the request in flight: status %d from %q with %d bytes; want 200 from slow with 100000",
				got.status, got.origin, len(got.body))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight never finished")
	}
}

func TestReloadRefusesWhatOnlyARestartApplies(t *testing.T) {
	a, b := pathEchoOrigin(t, "a"), pathEchoOrigin(t, "b")
	cfg := reloadConfig(pathService("one.test", pathLoc("/", a.URL)))
	px := pathStartProxy(t, cfg, Options{Logger: edgeTestLogger()})

	for _, tc := range []struct {
		name string
		edit func(*configs.Config)
		want string
	}{
		{"body limit", func(c *configs.Config) {
			c.Limits.MaxBodyBytes = 1000
			c.File, c.Positions = "spillway.yaml", map[string]int{"limits.max_body_bytes": 7}
		}, "spillway.yaml:7: limits.max_body_bytes: changed from 0 to 1000"},
		{"header limit", func(c *configs.Config) { c.Limits.MaxHeaderBytes = 1 << 10 }, "limits.max_header_bytes"},
		{"new port", func(c *configs.Config) {
			svc := pathService("two.test", pathLoc("/", b.URL))
			svc.Port = 1 // stays unopened: the reload is refused first
			c.Services = append(c.Services, svc)
		}, "port 1 is new"},
		{"host", func(c *configs.Config) { c.Host = "127.0.0.2" }, "host: the listeners' address changed"},
		{"tls", func(c *configs.Config) {
			c.Services[0].TLS = &configs.TLS{CertFile: "x.pem", KeyFile: "x.key"}
		}, "changes between plain HTTP and TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := reloadConfig(pathService("one.test", pathLoc("/", b.URL)))
			tc.edit(next)
			err := px.srv.Reload(next)
			var rr *RestartRequired
			if !errors.As(err, &rr) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Reload: %v; want a RestartRequired naming %q", err, tc.want)
			}
			if resp, _ := pathDo(t, px, "GET", "one.test", "/", nil, nil); resp.Header.Get("X-Origin") != "a" {
				t.Errorf("after a refused reload the request went to %q, want the running config's a", resp.Header.Get("X-Origin"))
			}
		})
	}

	// A service that cannot be built leaves everything as it was.
	broken := reloadConfig(pathService("one.test", pathLoc("/", b.URL)), pathService("two.test", pathLoc("/", "http://")))
	if err := px.srv.Reload(broken); err == nil || !strings.Contains(err.Error(), `service "svc-two.test"`) {
		t.Fatalf("Reload of a backend without a host: %v; want an error naming the service", err)
	}
	if resp, _ := pathDo(t, px, "GET", "one.test", "/", nil, nil); resp.Header.Get("X-Origin") != "a" {
		t.Errorf("after a failed reload the request went to %q, want a", resp.Header.Get("X-Origin"))
	}
}

func TestReloadKeepsCountersAndHealthVerdicts(t *testing.T) {
	a, b := pathEchoOrigin(t, "a"), pathEchoOrigin(t, "b")
	down := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Origin", "down")
	})
	check := &configs.HealthCheck{Interval: configs.Duration(10 * time.Millisecond), Timeout: configs.Duration(time.Second),
		Thresholds: configs.Thresholds{Healthy: 2, Unhealthy: 2}}
	cfg := reloadConfig(pathService("one.test", pathLoc("/", a.URL, down.URL)))
	cfg.HealthCheck = check
	px := pathStartProxy(t, cfg, Options{Logger: edgeTestLogger(), Metrics: true})

	metricsText := func() string {
		var buf bytes.Buffer
		if err := px.srv.WriteMetrics(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	upLine := regexp.MustCompile(`spillway_backend_up\{[^}]*backend="` + regexp.QuoteMeta(down.Addr) + `"\} 0`)
	deadline := time.Now().Add(5 * time.Second)
	for !upLine.MatchString(metricsText()) {
		if time.Now().After(deadline) {
			t.Fatalf("the failing backend was never marked down:\n%s", metricsText())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 3 {
		pathDo(t, px, "GET", "one.test", "/", nil, nil)
	}

	// The reloaded location lists the down backend first and checks only
	// once an hour: its verdict must come from the running pool.
	next := reloadConfig(pathService("one.test", pathLoc("/", down.URL, a.URL, b.URL)))
	slow := *check
	slow.Interval = configs.Duration(time.Hour)
	next.HealthCheck = &slow
	if err := px.srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 6 {
		resp, _ := pathDo(t, px, "GET", "one.test", "/", nil, nil)
		seen[resp.Header.Get("X-Origin")]++
	}
	if seen["down"] > 0 || seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("after reload the answers came from %v; want a and b, never the backend its check took out", seen)
	}
	out := metricsText()
	if !strings.Contains(out, `spillway_service_requests_total{service="svc-one.test",code="2xx"} 9`) {
		t.Errorf("the service's counter did not carry over the reload (3 + 6 answers):\n%s", out)
	}
	attempts := regexp.MustCompile(`spillway_backend_attempts_total\{[^}]*backend="` + regexp.QuoteMeta(a.Addr) + `",outcome="success"\} (\d+)`)
	if m := attempts.FindStringSubmatch(out); m == nil || m[1] != fmt.Sprint(3+seen["a"]) {
		t.Errorf("a's attempts after reload: %v, want %d (3 before, %d after):\n%s", m, 3+seen["a"], seen["a"], out)
	}
}

// Reloads while requests flow (run it with -race): every request is
// answered 200 by one of the two configurations' origins, and metrics
// can be read throughout.
func TestReloadUnderLoadLosesNoRequest(t *testing.T) {
	a, b := pathEchoOrigin(t, "a"), pathEchoOrigin(t, "b")
	configFor := func(i int) *configs.Config {
		url := a.URL
		if i%2 == 1 {
			url = b.URL
		}
		return reloadConfig(pathService("one.test", pathLoc("/", url)))
	}
	px := pathStartProxy(t, configFor(0), Options{Logger: edgeTestLogger(), Metrics: true})

	stop := make(chan struct{})
	errs := make(chan error, 4)
	var answered atomic.Int64
	for range 4 {
		go func() {
			client := pathClient()
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				req, _ := http.NewRequest("GET", "http://"+px.Addr+"/", nil)
				req.Host = "one.test"
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				body, _ := readAllString(resp)
				resp.Body.Close()
				if o := resp.Header.Get("X-Origin"); resp.StatusCode != 200 || (o != "a" && o != "b") {
					errs <- fmt.Errorf("status %d from %q: %q", resp.StatusCode, o, body)
					return
				}
				answered.Add(1)
			}
		}()
	}
	for i := 1; i <= 40; i++ {
		if err := px.srv.Reload(configFor(i)); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := px.srv.WriteMetrics(&buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if answered.Load() == 0 {
		t.Fatal("no request was answered while reloading")
	}
}

// The replaced configuration's health checks stop at the reload, not
// when its proxy is closed after shutdown_grace: a backend the new one
// dropped is not probed on, and a changed check is not run twice.
func TestReloadStopsTheReplacedChecks(t *testing.T) {
	var oldChecks atomic.Int64
	a := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old-health" {
			oldChecks.Add(1)
		}
		w.Header().Set("X-Origin", "a")
	})
	cfg := reloadConfig(pathService("one.test", pathLoc("/", a.URL)))
	cfg.HealthCheck = &configs.HealthCheck{Path: "/old-health", Interval: configs.Duration(10 * time.Millisecond),
		Timeout: configs.Duration(time.Second)}
	px := pathStartProxy(t, cfg, Options{Logger: edgeTestLogger()})
	deadline := time.Now().Add(5 * time.Second)
	for oldChecks.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the checks never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := px.srv.Reload(reloadConfig(pathService("one.test", pathLoc("/", a.URL)))); err != nil {
		t.Fatal(err)
	}
	before := oldChecks.Load()
	time.Sleep(200 * time.Millisecond) // twenty of the old intervals
	if n := oldChecks.Load() - before; n > 1 {
		t.Errorf("the replaced check ran %d more times after the reload", n)
	}
	if resp, _ := pathDo(t, px, "GET", "one.test", "/", nil, nil); resp.StatusCode != 200 {
		t.Errorf("after reload: %d", resp.StatusCode)
	}
}

// New client timeouts reach the connections accepted after the reload;
// one already open keeps the timeouts it was accepted with.
func TestReloadGivesNewConnectionsTheNewClientTimeouts(t *testing.T) {
	a := pathEchoOrigin(t, "a")
	px := pathStartProxy(t, reloadConfig(pathService("one.test", pathLoc("/", a.URL))), Options{Logger: edgeTestLogger()})
	served := func(c net.Conn) *bufio.Reader {
		t.Helper()
		br := bufio.NewReader(c)
		if got, status := reloadGet(t, c, br, "one.test", "/"); got != "a" || status != 200 {
			t.Fatalf("origin %q, status %d", got, status)
		}
		return br
	}
	old := edgeDial(t, px.Addr)
	oldBr := served(old)

	next := reloadConfig(pathService("one.test", pathLoc("/", a.URL)))
	next.Timeouts.ClientIdle = configs.Duration(200 * time.Millisecond)
	if err := px.srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	fresh := edgeDial(t, px.Addr)
	freshBr := served(fresh)
	if !edgeClosedWithin(fresh, freshBr, 2*time.Second) {
		t.Error("a connection accepted after the reload was not closed by the new 200ms client_idle")
	}
	if edgeClosedWithin(old, oldBr, 300*time.Millisecond) {
		t.Error("a connection accepted before the reload was closed by the new client_idle")
	}
	old.SetDeadline(time.Now().Add(5 * time.Second))
	served(old) // and it still serves
}
