package tlsconf

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// origin is an https server on loopback whose certificate names only
// origin.test; it records the SNI names it was asked for.
type origin struct {
	addr   string
	caFile string
	mu     sync.Mutex
	snis   []string
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	ca, dir := newCA(t), t.TempDir()
	c, k := ca.leaf(t, "origin", time.Now().Add(time.Hour), "origin.test")
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{caFile: filepath.Join(dir, "ca.pem")}
	if err := os.WriteFile(o.caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		o.mu.Lock()
		o.snis = append(o.snis, h.ServerName)
		o.mu.Unlock()
		return &pair, nil
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("origin") }, Logger: quietServer{}}
	go srv.Serve(tls.NewListener(ln, cfg)) //nolint:errcheck
	t.Cleanup(func() { srv.Shutdown() })   //nolint:errcheck
	o.addr = ln.Addr().String()
	return o
}

func (o *origin) lastSNI() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.snis) == 0 {
		return ""
	}
	return o.snis[len(o.snis)-1]
}

func TestClientAgainstHTTPSOrigin(t *testing.T) {
	o := newOrigin(t)
	for _, tc := range []struct {
		desc       string
		backend    configs.Backend
		serverName string
		wantErr    string // "" means the request succeeds
		wantSNI    string
	}{
		{"ca_file verifies the origin", configs.Backend{CAFile: o.caFile, SNI: "origin.test"}, "127.0.0.1", "", "origin.test"},
		{"server name from the URL host", configs.Backend{CAFile: o.caFile}, "origin.test", "", "origin.test"},
		{"system roots do not know the test CA", configs.Backend{SNI: "origin.test"}, "127.0.0.1", "certificate", ""},
		{"SNI the certificate does not name", configs.Backend{CAFile: o.caFile, SNI: "other.test"}, "127.0.0.1", "certificate", ""},
		{"skip_tls_verify accepts anything", configs.Backend{SkipTLSVerify: true, SNI: "other.test"}, "127.0.0.1", "", "other.test"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			tc.backend.URL = "https://" + o.addr
			cfg, err := Client(tc.backend, tc.serverName)
			if err != nil {
				t.Fatal(err)
			}
			hc := &fasthttp.HostClient{Addr: o.addr, IsTLS: true, TLSConfig: cfg, ReadTimeout: 5 * time.Second}
			defer hc.CloseIdleConnections()
			status, body, err := hc.GetTimeout(nil, "https://"+o.addr+"/", 5*time.Second)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one about %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || status != 200 || string(body) != "origin" {
				t.Fatalf("status %d body %q err %v", status, body, err)
			}
			if got := o.lastSNI(); got != tc.wantSNI {
				t.Errorf("origin saw SNI %q, want %q", got, tc.wantSNI)
			}
		})
	}
}

func TestClientRefusesBadCAFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("no certificates here"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{empty, "holds no PEM certificate"},
		{filepath.Join(dir, "missing.pem"), "no such file"},
	} {
		_, err := Client(configs.Backend{URL: "https://b", CAFile: tc.file}, "b")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ca_file %s: error %v, want %q", tc.file, err, tc.want)
		}
	}
}

func ExampleClient() {
	cfg, err := Client(configs.Backend{URL: "https://10.0.0.5:8443", SNI: "api.internal"}, "10.0.0.5")
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.ServerName, cfg.MinVersion == tls.VersionTLS12, cfg.InsecureSkipVerify)
	// Output: api.internal true false
}
