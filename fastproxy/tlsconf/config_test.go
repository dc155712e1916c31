package tlsconf_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf"
)

// load writes src as spillway.yaml in dir and loads it with configs.Load.
func load(t *testing.T, dir, src string) (*configs.Config, error) {
	t.Helper()
	file := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := configs.Load(file)
	return cfg, err
}

const backendLoc = `    locations: [{path: /, backends: [{url: "http://127.0.0.1:9"}]}]
`

// TestConfigTLSRules checks, through configs.Load, the rules that keep
// NewListener from meeting a port it cannot serve.
func TestConfigTLSRules(t *testing.T) {
	dir := t.TempDir()
	ca := tlsconf.NewTestCA(t)
	ca.WriteLeaf(t, dir, "a", "a", "a.test")
	ca.WriteLeaf(t, dir, "b", "b", "b.test")
	if err := os.WriteFile(filepath.Join(dir, "broken.crt"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	svc := func(name, host, tlsBlock string) string {
		s := "  - name: " + name + "\n    host: " + host + "\n    port: 8443\n"
		if tlsBlock != "" {
			s += "    tls: " + tlsBlock + "\n"
		}
		return s + backendLoc
	}
	for _, tc := range []struct {
		desc string
		src  string
		want []string // fragments of the error; none means it loads
	}{
		{"two TLS hosts on one port", "services:\n" +
			svc("alpha", "a.test", "{cert_file: a.crt, key_file: a.key}") +
			svc("beta", "b.test", "{cert_file: b.crt, key_file: b.key}"), nil},
		{"plain and TLS on one port", "services:\n" +
			svc("alpha", "a.test", "{cert_file: a.crt, key_file: a.key}") +
			svc("plain", "p.test", ""), []string{"port 8443 mixes plain HTTP and TLS", `"alpha"`, `"plain"`}},
		{"listener settings disagree", "services:\n" +
			svc("alpha", "a.test", "{cert_file: a.crt, key_file: a.key, min_version: \"1.3\"}") +
			svc("beta", "b.test", "{cert_file: b.crt, key_file: b.key}"), []string{"min_version", `"alpha"`, `"beta"`}},
		{"missing certificate file", "services:\n" +
			svc("alpha", "a.test", "{cert_file: none.crt, key_file: a.key}"), []string{"cert_file", "none.crt"}},
		{"broken certificate file", "services:\n" +
			svc("alpha", "a.test", "{cert_file: broken.crt, key_file: a.key}"), []string{"broken.crt", "not a certificate and its key"}},
		{"certificate with another key", "services:\n" +
			svc("alpha", "a.test", "{cert_file: a.crt, key_file: b.key}"), []string{"a.crt", "b.key"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, err := load(t, dir, tc.src)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				listenerFromConfig(t, cfg)
				return
			}
			var ce *configs.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a *configs.Error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// listenerFromConfig builds the listener of a loaded config's port as the
// server does, and checks that each host's handshake gets its certificate.
func listenerFromConfig(t *testing.T, cfg *configs.Config) {
	t.Helper()
	var sites []tlsconf.Site
	for i := range cfg.Services {
		s := &cfg.Services[i]
		sites = append(sites, tlsconf.Site{Name: s.Name, Host: s.Host, TLS: cfg.ServiceTLS(s)})
	}
	l, err := tlsconf.NewListener(8443, sites, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, host := range []string{"a.test", "b.test"} {
		cert, err := l.Config().GetCertificate(&tls.ClientHelloInfo{ServerName: host})
		if err != nil {
			t.Fatal(err)
		}
		if cn := cert.Leaf.Subject.CommonName; cn != host[:1] {
			t.Errorf("host %s got certificate %q", host, cn)
		}
	}
}
