package fastproxy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// pathSeen is what a pathEchoOrigin received, sent back as JSON.
type pathSeen struct {
	Origin     string
	Method     string
	RequestURI string
	Host       string
	Header     http.Header
	Body       string
}

// pathOrigin is a real net/http origin on 127.0.0.1 that counts its requests.
type pathOrigin struct {
	URL   string // http://127.0.0.1:PORT
	Addr  string
	Hits  atomic.Int64
	srv   *http.Server
	close sync.Once
}

// Close stops the origin; later connections are refused.
func (o *pathOrigin) Close() { o.close.Do(func() { o.srv.Close() }) }

// pathStartOrigin serves h on a fresh loopback port until the test ends;
// each setup function may adjust the server before it starts.
func pathStartOrigin(t testing.TB, h http.HandlerFunc, setup ...func(*http.Server)) *pathOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &pathOrigin{Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String()}
	o.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.Hits.Add(1)
		h(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	for _, f := range setup {
		f(o.srv)
	}
	go o.srv.Serve(ln)
	t.Cleanup(o.Close)
	return o
}

// pathEchoOrigin answers every request with a pathSeen naming itself.
func pathEchoOrigin(t testing.TB, name string) *pathOrigin {
	return pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Origin", name)
		json.NewEncoder(w).Encode(pathSeen{Origin: name, Method: r.Method, RequestURI: r.RequestURI,
			Host: r.Host, Header: r.Header, Body: string(body)})
	})
}

// pathRawOrigin accepts connections and hands each to serve, for origins
// that misbehave on purpose (close without answering, stall, send raw bytes).
func pathRawOrigin(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String()
}

// pathCountingOrigin is a raw origin that counts its connections and
// hands each request read on them, body drained, to answer.
func pathCountingOrigin(t testing.TB, answer func(c net.Conn, req *http.Request)) (url string, conns func() int) {
	var mu sync.Mutex
	n := 0
	url = pathRawOrigin(t, func(c net.Conn) {
		mu.Lock()
		n++
		mu.Unlock()
		br := bufio.NewReader(c)
		for {
			req, err := pathReadHead(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			answer(c, req)
		}
	})
	return url, func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// pathReadHead reads one request head from c.
func pathReadHead(br *bufio.Reader) (*http.Request, error) {
	return http.ReadRequest(br)
}

// pathClosedURL is an address nothing listens on.
func pathClosedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// pathService is a service with one location per (path, backends) pair.
func pathService(host string, locs ...configs.Location) configs.Service {
	return configs.Service{Name: "svc-" + host, Host: host, Locations: locs}
}

func pathLoc(path string, urls ...string) configs.Location {
	l := configs.Location{Path: path}
	for _, u := range urls {
		l.Backends = append(l.Backends, configs.Backend{URL: u})
	}
	return l
}

// pathProxy is an in-process Spillway: the edge's Server (New, Start,
// Addrs, Shutdown) serving cfg on an ephemeral 127.0.0.1 port, so the
// request path is tested behind the real listener, timeouts and framing.
type pathProxy struct {
	Addr string
	srv  *Server
}

// pathStartProxy serves cfg until the test ends. Every service is put on
// one ephemeral port (Port 0) of 127.0.0.1.
func pathStartProxy(t testing.TB, cfg *configs.Config, opts Options) *pathProxy {
	t.Helper()
	cfg.Host = "127.0.0.1"
	for i := range cfg.Services {
		cfg.Services[i].Port = 0
	}
	srv, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	addrs := srv.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("%d listeners, want 1", len(addrs))
	}
	return &pathProxy{Addr: addrs[0].String(), srv: srv}
}

// pathClient is a net/http client that never uses environment proxies.
func pathClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// pathDo sends method to the proxy with the given Host and target and
// returns the response with its body read.
func pathDo(t testing.TB, px *pathProxy, method, host, target string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+px.Addr+target, body)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := pathClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// pathSeenBy decodes an echo origin's answer.
func pathSeenBy(t testing.TB, body string) pathSeen {
	t.Helper()
	var s pathSeen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("not an echo answer: %q", body)
	}
	return s
}

// pathRaw writes raw request bytes to the proxy and reads one response per
// method given, on the same connection.
func pathRaw(t testing.TB, addr, raw string, methods ...string) []*http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for _, m := range methods {
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d: %v", len(out)+1, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(out)+1, err)
		}
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		out = append(out, resp)
	}
	return out
}

func readAllString(resp *http.Response) (string, error) {
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
