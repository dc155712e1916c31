package pluginhost_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf/tlstest"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// hang is a plugin that ignores its context: on /slow it sleeps for
// sleep, on /block it waits for block to close, and on /upload it reads
// the whole request body first.
type hang struct {
	sleep time.Duration
	block chan struct{}
}

func (hang) Name() string   { return "hang" }
func (hang) Priority() int  { return 0 }
func (hang) Cleanup() error { return nil }
func (h hang) ProcessRequest(_ context.Context, r *http.Request) *plugin.Result {
	switch r.URL.Path {
	case "/slow":
		time.Sleep(h.sleep)
	case "/block":
		<-h.block
	case "/upload":
		io.Copy(io.Discard, r.Body)
	}
	return plugin.ResultContinue
}
func (hang) ProcessResponse(context.Context, *http.Response) *plugin.Result {
	return plugin.ResultContinue
}

// startHangProxy serves an origin whose answers are size bytes of 'o'
// behind a proxy running hang with budget, logging to log (nil: nowhere),
// over TLS for a.test when tlsOn.
func startHangProxy(t *testing.T, budget time.Duration, size int, log *slog.Logger, tlsOn ...bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("o"), size)
	origin := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go origin.Serve(ln)
	t.Cleanup(func() { origin.Shutdown() })
	h, err := pluginhost.New([]plugin.Handler{hang{sleep: 2 * time.Second}},
		map[string]configs.PluginSettings{"hang": {Timeout: configs.Duration(budget)}}, cmp.Or(log, quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{{
		Name: "hang",
		Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{
			{URL: "http://" + ln.Addr().String()}}}},
	}}}
	if len(tlsOn) > 0 && tlsOn[0] {
		certFile, keyFile := tlstest.Files(t, "a.test")
		cfg.Services[0].Host = "a.test"
		cfg.Services[0].TLS = &configs.TLS{CertFile: certFile, KeyFile: keyFile}
	}
	return strings.TrimPrefix(startProxy(t, cfg, h), "http://")
}

// get504 sends GET path on c and fails unless the answer is a 504.
func get504(t *testing.T, c net.Conn, path string) {
	t.Helper()
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("GET %s: status %d, want 504", path, resp.StatusCode)
	}
}

// dial opens a raw client connection that gives up after 10s.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// The watchdog answers a plugin past its budget on the connection itself.
// A pipelined client must still get every earlier answer whole and in
// order before that 504, whatever their size (fasthttp holds answers back
// while the next request is already buffered), then the connection
// closes; a HEAD gets its 504 without a body.
func TestPluginTimeoutAfterPipelinedRequestsKeepsTheirAnswers(t *testing.T) {
	t.Parallel()
	const budget = 200 * time.Millisecond
	for _, size := range []int{12, 40 << 10} {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(fmt.Sprintf("%s-%dB", method, size), func(t *testing.T) {
				c := dial(t, startHangProxy(t, budget, size, nil))
				start := time.Now()
				io.WriteString(c, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"+
					"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"+
					method+" /slow HTTP/1.1\r\nHost: x\r\n\r\n")
				br := bufio.NewReader(c)
				for i := range 2 {
					resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
					if err != nil {
						t.Fatalf("answer %d: %v", i+1, err)
					}
					got, err := io.ReadAll(resp.Body)
					if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, bytes.Repeat([]byte("o"), size)) {
						t.Fatalf("answer %d: status %d, %d bytes, %v; want 200 and the %d-byte body",
							i+1, resp.StatusCode, len(got), err, size)
					}
				}
				resp, err := http.ReadResponse(br, &http.Request{Method: method})
				if err != nil {
					t.Fatalf("answer 3: %v", err)
				}
				got, _ := io.ReadAll(resp.Body)
				took := time.Since(start)
				if resp.StatusCode != http.StatusGatewayTimeout || !resp.Close {
					t.Fatalf("answer 3: status %d, close %v; want 504 and Connection: close", resp.StatusCode, resp.Close)
				}
				if took < budget || took > budget+time.Second {
					t.Errorf("504 after %v, want about the %v budget", took, budget)
				}
				if want := map[string]string{"GET": "Gateway Timeout\n", "HEAD": ""}[method]; string(got) != want {
					t.Errorf("504 body %q, want %q", got, want)
				}
				if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil {
					t.Errorf("after the 504: read %d bytes, %v; want the connection closed", n, err)
				}
			})
		}
	}
}

// Over TLS the watchdog's 504 goes through the same TLS connection the
// serving goroutine, stuck in the plugin, owns: it arrives after the
// earlier pipelined answer, as one valid record stream.
func TestPluginTimeoutOverTLS(t *testing.T) {
	t.Parallel()
	const budget = 200 * time.Millisecond
	addr := startHangProxy(t, budget, 40<<10, nil, true)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: "a.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	io.WriteString(c, "GET /fast HTTP/1.1\r\nHost: a.test\r\n\r\nGET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || len(got) != 40<<10 {
		t.Fatalf("answer 1: status %d, %d bytes, %v; want 200 and 40 KiB", resp.StatusCode, len(got), err)
	}
	resp, err = http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != http.StatusGatewayTimeout || took > budget+time.Second {
		t.Fatalf("answer 2: status %d after %v, want 504 in about the %v budget", resp.StatusCode, took, budget)
	}
}

// The overrun is logged when the client is answered, not when the plugin
// returns: a plugin that hangs may never return.
func TestPluginTimeoutIsLoggedWhenAnswered(t *testing.T) {
	t.Parallel()
	const budget = 200 * time.Millisecond
	log, logs := newLog()
	c := dial(t, startHangProxy(t, budget, 12, log))
	get504(t, c, "/slow")
	// The line is written just before the answer; the plugin sleeps 2s.
	for deadline := time.Now().Add(500 * time.Millisecond); ; time.Sleep(10 * time.Millisecond) {
		l := logs.String()
		if strings.Contains(l, "exceeded its timeout") && strings.Contains(l, "plugin=hang") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no overrun logged by the time of the 504:\n%s", l)
		}
	}
}

// A plugin that never returns holds its connection's goroutine, but not a
// graceful shutdown past its context: Shutdown gives up on that
// connection when its context ends (the binary's shutdown_grace).
func TestShutdownIsNotHeldByAHungPlugin(t *testing.T) {
	t.Parallel()
	const budget = 100 * time.Millisecond
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	h, err := pluginhost.New([]plugin.Handler{hang{block: block}},
		map[string]configs.PluginSettings{"hang": {Timeout: configs.Duration(budget)}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	srv, err := fastproxy.New(&configs.Config{Host: "127.0.0.1", Services: []configs.Service{{
		Name: "hang",
		Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{
			{URL: "http://" + startOrigin(t, &rig{})}}}},
	}}}, fastproxy.Options{Logger: quiet, Plugins: h})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv.Addrs()[0].String())
	get504(t, c, "/block")
	const grace = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	start := time.Now()
	srv.Shutdown(ctx)
	if took := time.Since(start); took > grace+time.Second {
		t.Fatalf("Shutdown took %v with a %v context", took, grace)
	}
}

// A request-phase plugin blocked reading an upload the client stopped
// sending gets the client its 504 in about the budget, not when client_read
// would cut the upload off (30s by default).
func TestPluginBlockedOnAStalledUploadAnswers504InAboutTheBudget(t *testing.T) {
	t.Parallel()
	const budget = 200 * time.Millisecond
	c := dial(t, startHangProxy(t, budget, 12, nil))
	start := time.Now()
	// fasthttp reads the first 8 KiB of a body before the handler runs.
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("u", 9000))
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusGatewayTimeout || took < budget || took > budget+time.Second {
		t.Fatalf("status %d after %v, want 504 in about the %v budget", resp.StatusCode, took, budget)
	}
}
