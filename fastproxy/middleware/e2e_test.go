package middleware_test

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/fastproxy/middleware"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf/tlstest"
)

// proxy is a running Spillway in front of one origin.
type proxy struct {
	url    string
	client *http.Client
}

// startProxy serves one service in front of origin with the given
// middleware YAML (a list), over TLS when overTLS, until the test ends.
func startProxy(t *testing.T, origin, mw string, overTLS bool) *proxy {
	t.Helper()
	dir := t.TempDir()
	tlsBlock, scheme := "", "http"
	tr := &http.Transport{DisableCompression: true}
	if overTLS {
		certFile, keyFile := tlstest.Files(t, "127.0.0.1")
		tlsBlock, scheme = fmt.Sprintf("    tls: {cert_file: %q, key_file: %q}\n", certFile, keyFile), "https"
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	src := fmt.Sprintf("port: 0\nservices:\n  - name: svc\n%s    middleware: %s\n    locations: [{path: /, backends: [{url: %q}]}]\n",
		tlsBlock, mw, origin)
	file := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := configs.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fastproxy.New(cfg, fastproxy.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
	})
	return &proxy{url: scheme + "://" + srv.Addrs()[0].String(), client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (p *proxy) do(t *testing.T, method, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	return middleware.Fetch(t, p.client, method, p.url+path, headers...)
}

// origin serves text (of the Content-Type in ?ct= when given), counts
// requests and reports X-Forwarded-Proto; on
// /stream it sends a chunked body in two parts, the second only once gate
// is opened.
func origin(t *testing.T, hits *atomic.Int64, gate *middleware.StreamGate) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		ct := cmp.Or(r.URL.Query().Get("ct"), "text/plain; charset=utf-8")
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Seen-Proto", r.Header.Get("X-Forwarded-Proto"))
		if r.URL.Path == "/stream" {
			io.WriteString(w, "first part\n") //nolint:errcheck
			w.(http.Flusher).Flush()
			gate.Hold()
		}
		io.WriteString(w, middleware.BigText) //nolint:errcheck
	}))
	t.Cleanup(s.Close)
	return s
}

func TestProxySecurityHeadersHSTSOnlyOverTLS(t *testing.T) {
	var hits atomic.Int64
	o := origin(t, &hits, nil)
	for _, tc := range []struct {
		overTLS     bool
		hsts, proto string
	}{
		{false, "", "http"},
		{true, "max-age=31536000", "https"},
	} {
		t.Run(fmt.Sprint("tls=", tc.overTLS), func(t *testing.T) {
			p := startProxy(t, o.URL, "[{security: {hsts: true, content_type_options: true}}]", tc.overTLS)
			resp, _ := p.do(t, "GET", "/")
			if got := resp.Header.Get("Strict-Transport-Security"); got != tc.hsts {
				t.Errorf("HSTS %q, want %q", got, tc.hsts)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if got := resp.Header.Get("X-Seen-Proto"); got != tc.proto {
				t.Errorf("origin saw X-Forwarded-Proto %q, want %q", got, tc.proto)
			}
		})
	}
}

func TestProxyRateLimit429(t *testing.T) {
	var hits atomic.Int64
	p := startProxy(t, origin(t, &hits, nil).URL, "[{rate_limit: {requests_per_second: 1, burst: 2}}]", false)
	var codes []int
	for range 3 {
		resp, _ := p.do(t, "GET", "/")
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "1" {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	if fmt.Sprint(codes) != "[200 200 429]" || hits.Load() != 2 {
		t.Errorf("statuses %v with %d origin hits, want [200 200 429] and 2", codes, hits.Load())
	}
}

func TestProxyCORSPreflightAndSimple(t *testing.T) {
	var hits atomic.Int64
	p := startProxy(t, origin(t, &hits, nil).URL,
		`[{cors: {allowed_origins: ["https://app.test"], allowed_methods: [GET, PUT], allow_credentials: true, max_age: 60}}]`, false)
	resp, _ := p.do(t, "OPTIONS", "/", "Origin: https://app.test", "Access-Control-Request-Method: PUT")
	if resp.StatusCode != 204 || hits.Load() != 0 {
		t.Fatalf("preflight: status %d, origin hits %d; want 204 from the proxy", resp.StatusCode, hits.Load())
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.test" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "GET, PUT" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		resp.Header.Get("Access-Control-Max-Age") != "60" {
		t.Errorf("preflight headers: %v", resp.Header)
	}
	resp, _ = p.do(t, "GET", "/", "Origin: https://app.test")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.test" {
		t.Errorf("simple request: status %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestProxyCompressionRoundTrips(t *testing.T) {
	var hits atomic.Int64
	gate := middleware.NewStreamGate()
	p := startProxy(t, origin(t, &hits, gate).URL, "[{compression: true}]", true)
	for _, enc := range []string{"gzip", "br", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			resp, body := p.do(t, "GET", "/", "Accept-Encoding: "+enc)
			if got := resp.Header.Get("Content-Encoding"); got != enc {
				t.Fatalf("Content-Encoding %q", got)
			}
			plain, err := io.ReadAll(middleware.Decoder(t, enc, strings.NewReader(string(body))))
			if err != nil || string(plain) != middleware.BigText {
				t.Errorf("decoded %d bytes, %v", len(plain), err)
			}
		})
		t.Run(enc+"/streamed", func(t *testing.T) {
			middleware.ReadStreamed(t, p.client, p.url+"/stream", enc, gate)
		})
	}
}

// TestProxyCompressesUpperCaseContentType: through the proxy, an origin's
// upper-case media type is compressed, and Vary: Accept-Encoding comes
// only with a compressed answer.
func TestProxyCompressesUpperCaseContentType(t *testing.T) {
	var hits atomic.Int64
	p := startProxy(t, origin(t, &hits, nil).URL, "[{compression: true}]", false)
	for _, tc := range []struct {
		ct  string
		enc string // "" for an answer left as it is
	}{
		{"TEXT/HTML; charset=UTF-8", "br"},
		{"Application/Json", "br"},
		{"model/vnd.collada+xml", ""},
	} {
		t.Run(tc.ct, func(t *testing.T) {
			resp, body := p.do(t, "GET", "/?ct="+url.QueryEscape(tc.ct), "Accept-Encoding: gzip, br")
			vary := strings.Contains(strings.ToLower(strings.Join(resp.Header.Values("Vary"), ",")), "accept-encoding")
			if got := resp.Header.Get("Content-Encoding"); got != tc.enc || vary != (tc.enc != "") {
				t.Fatalf("Content-Encoding %q, Vary has Accept-Encoding %v; want %q and %v", got, vary, tc.enc, tc.enc != "")
			}
			if got := resp.Header.Get("Content-Type"); got != tc.ct {
				t.Errorf("Content-Type %q, want the origin's %q", got, tc.ct)
			}
			plain, err := io.ReadAll(middleware.Decoder(t, tc.enc, strings.NewReader(string(body))))
			if err != nil || string(plain) != middleware.BigText {
				t.Errorf("decoded %d bytes, %v", len(plain), err)
			}
		})
	}
}
