package fastproxy

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// A backend that breaks off a streamed answer (closes before its
// Content-Length, or inside a chunk) cuts the client's answer short, and
// the proxy says so in its log, naming the backend and the target: the
// access log has already recorded the status the answer began with. A
// client that goes away mid-answer is not the backend's fault and logs no
// warning.
func TestBackendBreakingOffAStreamedAnswerIsLogged(t *testing.T) {
	origin, _ := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		defer c.Close()
		switch req.URL.Path {
		case "/sized":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("s", 100000))
		case "/chunked":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n"+strings.Repeat("c", 65536)+"\r\n100\r\nshort")
		case "/slow": // whole, but slower than the client that leaves
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
			for i := 0; i < 100; i++ {
				if _, err := io.WriteString(c, strings.Repeat("w", 100000)); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
	logs := &lockedBuffer{}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}},
		Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	u, _ := url.Parse(origin)

	for _, path := range []string{"/sized", "/chunked"} {
		resp, err := pathClient().Get("http://" + px.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || err == nil {
			t.Errorf("%s: %d, %d bytes, err %v; want 200 cut short with an error", path, resp.StatusCode, n, err)
		}
	}
	c := edgeDial(t, px.Addr)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	io.ReadFull(c, make([]byte, 200000))
	c.Close()
	time.Sleep(300 * time.Millisecond) // the proxy's next write to it fails

	deadline := time.Now().Add(5 * time.Second)
	var lines []string
	for time.Now().Before(deadline) {
		lines = lines[:0]
		for _, l := range strings.Split(string(logs.Bytes()), "\n") {
			if strings.Contains(l, "broke off") {
				lines = append(lines, l)
			}
		}
		if len(lines) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"target=/sized", "target=/chunked"} {
		found := false
		for _, l := range lines {
			if strings.Contains(l, want) && strings.Contains(l, "level=WARN") && strings.Contains(l, "backend="+u.Host) {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning naming %s and backend %s in\n%s", want, u.Host, logs.Bytes())
		}
	}
	if strings.Contains(string(logs.Bytes()), "target=/slow") {
		t.Errorf("a client that left was logged as the backend's fault:\n%s", logs.Bytes())
	}
}

// Passive health judges a streamed answer by how its body ends: a backend
// whose heads are fine but which breaks off every body it streams is
// ejected after failure_threshold such answers, and the metrics count
// them as failed. A client that leaves mid-answer counts against nobody.
func TestBackendBreakingOffItsBodiesIsEjected(t *testing.T) {
	breaker, _ := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		if req.URL.Path == "/slow" { // whole, but slower than the client that leaves
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
			for i := 0; i < 100; i++ {
				if _, err := io.WriteString(c, strings.Repeat("w", 100000)); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Origin: breaker\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("b", 100000))
		c.Close()
	})
	whole := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Origin", "whole")
		io.WriteString(w, strings.Repeat("g", 1000000))
	})
	cfg := &configs.Config{
		Services:      []configs.Service{pathService("", pathLoc("/", breaker, whole.URL))},
		PassiveHealth: configs.PassiveHealth{FailureThreshold: 2, Backoff: configs.Duration(time.Minute)},
	}
	px := pathStartProxy(t, cfg, Options{Metrics: true})
	get := func() (origin string, whole bool) {
		t.Helper()
		resp, err := pathClient().Get("http://" + px.Addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Origin"), err == nil && n == 1000000
	}

	// Round-robin alternates while the breaker is in rotation.
	broken := 0
	for range 4 {
		if origin, ok := get(); origin == "breaker" {
			if ok {
				t.Fatal("the breaker's answer came whole")
			}
			broken++
		} else if !ok {
			t.Fatalf("%q's answer was cut short", origin)
		}
	}
	if broken != 2 {
		t.Fatalf("%d of 4 answers came from the breaker, want 2", broken)
	}
	bu, _ := url.Parse(breaker)
	waitMetric(t, px.srv, `spillway_backend_up{service="svc-",location="/",backend="`+bu.Host+`"}`, 0)
	for range 4 {
		if origin, ok := get(); origin != "whole" || !ok {
			t.Fatalf("after two broken answers: from %q (whole %v); want every answer whole from the other backend", origin, ok)
		}
	}
	failed := `spillway_backend_attempts_total{service="svc-",location="/",backend="` + bu.Host + `",outcome="failed"}`
	success := `spillway_backend_attempts_total{service="svc-",location="/",backend="` + bu.Host + `",outcome="success"}`
	if m := scrape(t, px.srv); m[failed] != 2 || m[success] != 0 {
		t.Errorf("the breaker's attempts: %v failed, %v success; want 2 and 0", m[failed], m[success])
	}

	// A client that leaves: the backend stays in rotation.
	lone := pathStartProxy(t, &configs.Config{
		Services:      []configs.Service{pathService("", pathLoc("/", breaker))},
		PassiveHealth: configs.PassiveHealth{FailureThreshold: 1, Backoff: configs.Duration(time.Minute)},
	}, Options{Metrics: true})
	c := edgeDial(t, lone.Addr)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	io.ReadFull(c, make([]byte, 200000))
	c.Close()
	waitMetric(t, lone.srv, `spillway_backend_attempts_total{service="svc-",location="/",backend="`+bu.Host+`",outcome="success"}`, 1)
	if m := scrape(t, lone.srv); m[`spillway_backend_up{service="svc-",location="/",backend="`+bu.Host+`"}`] != 1 {
		t.Error("a client that left mid-answer got the backend ejected")
	}
}

// A chunked body whose first chunk came with the head and does not parse
// is a 502: nothing has gone to the client yet. Chunked bodies that parse,
// small or past the first read, come whole, and the backend connection is
// kept for the next request.
func TestChunkedBodyThatDoesNotParseAtOnceIs502(t *testing.T) {
	big := strings.Repeat("0123456789", 10000)
	origin, conns := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		switch req.URL.Path {
		case "/bad":
			io.WriteString(c, head+"fffffffffffffffffff\r\nab\r\n0\r\n\r\n")
			c.Close()
		case "/small":
			io.WriteString(c, head+"5\r\nhello\r\n0\r\n\r\n")
		case "/big":
			var b strings.Builder
			b.WriteString(head)
			for i := 0; i < len(big); i += 3000 {
				part := big[i:min(i+3000, len(big))]
				fmt.Fprintf(&b, "%x\r\n%s\r\n", len(part), part)
			}
			b.WriteString("0\r\n\r\n")
			io.WriteString(c, b.String())
		}
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}}, Options{})
	resp, body := pathDo(t, px, "GET", "h", "/bad", nil, nil)
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("/bad: %d %q, want 502", resp.StatusCode, body)
	}
	before := conns()
	for range 2 {
		for path, want := range map[string]string{"/small": "hello", "/big": big} {
			resp, body := pathDo(t, px, "GET", "h", path, nil, nil)
			if resp.StatusCode != 200 || body != want {
				t.Errorf("%s: %d, %d bytes; want 200 and %d bytes", path, resp.StatusCode, len(body), len(want))
			}
		}
	}
	if n := conns() - before; n != 1 {
		t.Errorf("4 chunked answers took %d backend connections, want 1", n)
	}
}
