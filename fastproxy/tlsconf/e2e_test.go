package tlsconf_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf"
)

var quietLog = slog.New(slog.DiscardHandler)

// startProxy loads src from dir and serves it until the test ends,
// returning the address of its one listener.
func startProxy(t *testing.T, dir, src string) string {
	t.Helper()
	cfg, err := load(t, dir, src)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fastproxy.New(cfg, fastproxy.Options{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
	})
	addrs := srv.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("listeners %v, want one", addrs)
	}
	return addrs[0].String()
}

// echoProto answers with its name and the X-Forwarded-Proto it received.
func echoProto(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.Header.Get("X-Forwarded-Proto"))
	}
}

// TestProxyServesTwoTLSHostsOnOnePort runs the whole path: a TLS listener
// choosing the certificate by SNI, the service chosen by Host, and the
// backends, one of them over TLS verified with ca_file and an SNI of its own.
func TestProxyServesTwoTLSHostsOnOnePort(t *testing.T) {
	dir := t.TempDir()
	ca := tlsconf.NewTestCA(t)
	ca.WriteLeaf(t, dir, "alpha", "alpha", "alpha.test")
	ca.WriteLeaf(t, dir, "beta", "beta", "beta.test")
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	plain := httptest.NewServer(echoProto("plain-origin"))
	defer plain.Close()
	secure := httptest.NewUnstartedServer(echoProto("tls-origin"))
	oc, ok := ca.WriteLeaf(t, dir, "origin", "origin", "origin.internal")
	pair, err := tls.LoadX509KeyPair(oc, ok)
	if err != nil {
		t.Fatal(err)
	}
	var originSNI atomic.Value
	secure.TLS = &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		originSNI.Store(h.ServerName)
		return &pair, nil
	}}
	secure.StartTLS()
	defer secure.Close()

	addr := startProxy(t, dir, fmt.Sprintf(`port: 0
services:
  - name: alpha
    host: alpha.test
    tls: {cert_file: alpha.crt, key_file: alpha.key}
    locations: [{path: /, backends: [{url: %q}]}]
  - name: beta
    host: beta.test
    tls: {cert_file: beta.crt, key_file: beta.key}
    locations: [{path: /, backends: [{url: %q, sni: origin.internal, ca_file: ca.pem}]}]
`, plain.URL, secure.URL))

	for _, tc := range []struct{ host, want string }{
		{"alpha.test", "plain-origin https"},
		{"beta.test", "tls-origin https"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: tc.host, RootCAs: ca.Pool()}}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
			req.Host = tc.host
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err) // includes a certificate not valid for tc.host
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != tc.want {
				t.Errorf("status %d body %q, want %q", resp.StatusCode, body, tc.want)
			}
		})
	}
	if got := originSNI.Load(); got != "origin.internal" {
		t.Errorf("TLS origin saw SNI %v, want origin.internal", got)
	}
}

// TestProxyRejectsUnknownSNI checks unknown_sni: reject on a live listener.
func TestProxyRejectsUnknownSNI(t *testing.T) {
	dir := t.TempDir()
	ca := tlsconf.NewTestCA(t)
	ca.WriteLeaf(t, dir, "alpha", "alpha", "alpha.test")
	addr := startProxy(t, dir, `port: 0
services:
  - name: alpha
    host: alpha.test
    tls: {cert_file: alpha.crt, key_file: alpha.key, unknown_sni: reject}
    locations: [{path: /, backends: [{url: "http://127.0.0.1:9"}]}]
`)
	d := &net.Dialer{Timeout: 5 * time.Second}
	if c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: "other.test", InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Error("handshake for an unknown name succeeded")
	}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: "alpha.test", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatalf("handshake for the known name: %v", err)
	}
	c.Close()
}
