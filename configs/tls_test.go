package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway-lb/spillway/fastproxy/tlsconf/tlstest"
)

// writeKeyPair writes a fresh self-signed certificate for host and its key
// as PEM files name.crt and name.key in dir.
func writeKeyPair(t *testing.T, dir, name, host string) {
	t.Helper()
	certPEM, keyPEM := tlstest.SelfSigned(t, host)
	for file, data := range map[string][]byte{name + ".crt": certPEM, name + ".key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// loadIn writes src as t.yaml in dir and loads it, returning the errors'
// strings with dir removed so that cases can spell them out.
func loadIn(t *testing.T, dir, src string) (*Config, []Problem) {
	t.Helper()
	file := filepath.Join(dir, "t.yaml")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load(file)
	if err == nil {
		return cfg, nil
	}
	ce, ok := err.(*Error)
	if !ok {
		t.Fatalf("Load: %v", err)
	}
	for i := range ce.Problems {
		p := &ce.Problems[i]
		p.File = filepath.Base(p.File)
		p.Msg = strings.ReplaceAll(p.Msg, dir+string(filepath.Separator), "")
	}
	return nil, ce.Problems
}

// TestTLSProblems checks the TLS rules: files present and paired, the
// block's own settings, and what services sharing a port must agree on.
func TestTLSProblems(t *testing.T) {
	dir := t.TempDir()
	writeKeyPair(t, dir, "a", "a.example.com")
	writeKeyPair(t, dir, "b", "b.example.com")
	loc := `    locations: [{path: /, backends: [{url: "http://127.0.0.1:9000"}]}]
`
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"valid pair, relative to the file", `services:
  - name: a
    port: 8443
    tls: {cert_file: a.crt, key_file: a.key}
` + loc, nil},
		{"enabled without files", `services:
  - name: a
    tls:
      enabled: true
` + loc, []string{`t.yaml:3: services[0].tls.cert_file: missing: TLS needs both cert_file and key_file`}},
		{"cert_file without key_file", `services:
  - name: a
    tls:
      cert_file: a.crt
` + loc, []string{`t.yaml:3: services[0].tls.key_file: missing: TLS needs both cert_file and key_file`}},
		{"missing file", `tls:
  enabled: true
  cert_file: nope.crt
  key_file: a.key
services:
  - name: a
` + loc, []string{`t.yaml:3: tls.cert_file: cannot read nope.crt: no such file or directory`}},
		{"files that are not a pair", `services:
  - name: a
    tls:
      cert_file: a.crt
      key_file: b.key
` + loc, []string{`t.yaml:4: services[0].tls.cert_file: a.crt and b.key are not a certificate and its key: tls: private key does not match public key`}},
		{"disabled block is not checked", `services:
  - name: a
    tls: {enabled: false, cert_file: nope.crt}
` + loc, nil},
		{"bad min_version and unknown_sni", `services:
  - name: a
    tls:
      cert_file: a.crt
      key_file: a.key
      min_version: "1.1"
      unknown_sni: drop
` + loc, []string{`t.yaml:6: services[0].tls.min_version: "1.1": expected "1.2" or "1.3"`,
			`t.yaml:7: services[0].tls.unknown_sni: "drop": expected default or reject`}},
		{"plain and TLS on one port", `services:
  - name: plain
    host: a.example.com
    port: 8443
` + loc + `  - name: secure
    host: b.example.com
    port: 8443
    tls: {cert_file: b.crt, key_file: b.key}
` + loc, []string{`t.yaml:6: services[1]: port 8443 mixes plain HTTP and TLS: service "secure" (line 6) has TLS, service "plain" (line 2) has not`}},
		{"global tls enabled makes every service TLS", `tls: {enabled: true, cert_file: a.crt, key_file: a.key}
services:
  - name: a
    host: a.example.com
` + loc + `  - name: b
    host: b.example.com
    tls: {cert_file: b.crt, key_file: b.key}
` + loc, nil},
		{"a service turning TLS off beside a global TLS one", `tls: {enabled: true, cert_file: a.crt, key_file: a.key}
services:
  - name: a
    host: a.example.com
` + loc + `  - name: b
    host: b.example.com
    tls: {enabled: false}
` + loc, []string{`t.yaml:6: services[1]: port 8080 mixes plain HTTP and TLS: service "a" (line 3) has TLS, service "b" (line 6) has not`}},
		{"listener settings differ on one port", `services:
  - name: a
    host: a.example.com
    port: 8443
    tls:
      cert_file: a.crt
      key_file: a.key
      cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
` + loc + `  - name: b
    host: b.example.com
    port: 8443
    tls:
      cert_file: b.crt
      key_file: b.key
      min_version: "1.3"
      session_tickets_disabled: true
` + loc, []string{`t.yaml:13: services[1].tls: TLS listener settings (cipher_suites, session_tickets_disabled, min_version) of service "b" (line 10) differ from those of service "a" (line 2), which shares port 8443: services on one port share one listener`}},
		{"same suites in another order agree", `services:
  - name: a
    host: a.example.com
    tls: {cert_file: a.crt, key_file: a.key, cipher_suites: [49199, 49195]}
` + loc + `  - name: b
    host: b.example.com
    tls: {cert_file: b.crt, key_file: b.key, cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]}
` + loc, nil},
		{"ca_file that holds no certificate", `backends:
  - url: https://127.0.0.1:9443
    ca_file: a.key
`, []string{`t.yaml:3: backends[0].ca_file: a.key holds no PEM certificate`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := loadIn(t, dir, tc.src)
			wantProblems(t, errs, tc.want...)
		})
	}
}

// TestServiceTLSRule checks which block a service's listener uses.
func TestServiceTLSRule(t *testing.T) {
	on, off := true, false
	global := &TLS{Enabled: &on, CertFile: "g.crt", KeyFile: "g.key"}
	own := &TLS{CertFile: "s.crt", KeyFile: "s.key"}
	ownBare := &TLS{MinVersion: "1.3"}
	cases := []struct {
		name     string
		global   *TLS
		own      *TLS
		redirect bool
		want     *TLS
	}{
		{"no blocks: plain", nil, nil, false, nil},
		{"global enabled applies", global, nil, false, global},
		{"global without enabled does not apply", &TLS{CertFile: "g.crt", KeyFile: "g.key"}, nil, false, nil},
		{"own block wins", global, own, false, own},
		{"own enabled false turns TLS off", global, &TLS{Enabled: &off}, false, nil},
		{"own block without enabled is on", global, ownBare, false, ownBare},
		{"http_redirect service takes no global TLS", global, nil, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{TLS: tc.global}
			if got := c.ServiceTLS(&Service{TLS: tc.own, HTTPRedirect: tc.redirect}); got != tc.want {
				t.Errorf("ServiceTLS = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestGlobalTLSWithoutEnabledWarns checks that a global tls block with a
// certificate but without enabled: true, which applies to no service, is
// pointed out rather than silently unused.
func TestGlobalTLSWithoutEnabledWarns(t *testing.T) {
	_, warns, errs := parseString(t, minimal+`tls:
  cert_file: a.crt
  key_file: a.key
`)
	wantProblems(t, errs)
	wantProblems(t, warns, "t.yaml:6: tls: cert_file is set but enabled is not true, so this tls block applies to no service")
}
