package tlsconf

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// fastOpts polls quickly so reload tests finish in milliseconds.
var fastOpts = options{poll: 20 * time.Millisecond, daily: time.Hour}

// sitePair issues a certificate with common name cn for names and returns
// the Site serving host with it.
func sitePair(t *testing.T, ca *testCA, dir, name, host string, names ...string) Site {
	t.Helper()
	c, k := ca.leaf(t, name, time.Now().Add(90*24*time.Hour), names...)
	cf, kf := writePair(t, dir, name, c, k)
	return Site{Name: name, Host: host, TLS: &configs.TLS{CertFile: cf, KeyFile: kf}}
}

func TestSNIChoosesCertificateOfHost(t *testing.T) {
	ca, dir := newCA(t), t.TempDir()
	sites := []Site{
		sitePair(t, ca, dir, "alpha", "alpha.test", "alpha.test"),
		sitePair(t, ca, dir, "beta", "Beta.Test", "beta.test"),
		sitePair(t, ca, dir, "wild", "*.wild.test", "*.wild.test"),
	}
	l, err := newListener(0, sites, quiet, fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := serveTLS(t, l)
	for _, tc := range []struct{ sni, want string }{
		{"alpha.test", "alpha"},
		{"beta.test", "beta"},
		{"ALPHA.TEST", "alpha"},
		{"alpha.test.", "alpha"},
		{"x.wild.test", "wild"},
		{"X.Wild.Test", "wild"},
	} {
		t.Run(tc.sni, func(t *testing.T) {
			got, err := handshake(t, addr, tc.sni)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("SNI %q got certificate %q, want %q", tc.sni, got, tc.want)
			}
		})
	}
}

func TestSNIVerifiesAgainstIssuer(t *testing.T) {
	ca, dir := newCA(t), t.TempDir()
	sites := []Site{
		sitePair(t, ca, dir, "alpha", "alpha.test", "alpha.test"),
		sitePair(t, ca, dir, "beta", "beta.test", "beta.test"),
	}
	l, err := newListener(0, sites, quiet, fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := serveTLS(t, l)
	for _, name := range []string{"alpha.test", "beta.test"} {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: ca.pool, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("verified handshake for %s: %v", name, err)
		}
		if got := get(t, c); got != "ok" {
			t.Errorf("body %q", got)
		}
		if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
			t.Errorf("ALPN %q, want http/1.1", p)
		}
		c.Close()
	}
}

func TestUnknownSNI(t *testing.T) {
	ca, dir := newCA(t), t.TempDir()
	alpha := sitePair(t, ca, dir, "alpha", "alpha.test", "alpha.test")
	beta := sitePair(t, ca, dir, "beta", "beta.test", "beta.test")
	catchAll := sitePair(t, ca, dir, "catchall", "", "catchall.test")
	reject := func(s Site) Site {
		tc := *s.TLS
		tc.UnknownSNI = "reject"
		s.TLS = &tc
		return s
	}
	for _, tc := range []struct {
		desc  string
		sites []Site
		sni   string
		want  string // certificate common name; "" means the handshake fails
	}{
		{"default goes to the first site", []Site{alpha, beta}, "other.test", "alpha"},
		{"no SNI goes to the first site", []Site{alpha, beta}, "", "alpha"},
		{"default goes to the hostless site", []Site{alpha, catchAll, beta}, "other.test", "catchall"},
		{"reject fails an unknown name", []Site{reject(alpha), reject(beta)}, "other.test", ""},
		{"reject fails a handshake without SNI", []Site{reject(alpha), reject(beta)}, "", ""},
		{"one site asking for reject is enough", []Site{alpha, reject(beta)}, "other.test", ""},
		{"reject still serves a known name", []Site{reject(alpha), reject(beta)}, "beta.test", "beta"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			l, err := newListener(0, tc.sites, quiet, fastOpts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			addr := serveTLS(t, l)
			got, err := handshake(t, addr, tc.sni)
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("handshake with SNI %q succeeded with %q, want failure", tc.sni, got)
			case tc.want != "" && err != nil:
				t.Fatalf("handshake with SNI %q: %v", tc.sni, err)
			case got != tc.want:
				t.Errorf("SNI %q got %q, want %q", tc.sni, got, tc.want)
			}
		})
	}
}

func TestListenerSettings(t *testing.T) {
	ca, dir := newCA(t), t.TempDir()
	base := sitePair(t, ca, dir, "alpha", "", "alpha.test")
	with := func(f func(*configs.TLS)) Site {
		s := base
		tc := *s.TLS
		f(&tc)
		s.TLS = &tc
		return s
	}
	for _, tc := range []struct {
		desc   string
		site   Site
		client *tls.Config
		ok     bool
	}{
		{"TLS 1.2 is the default minimum", base, &tls.Config{MaxVersion: tls.VersionTLS12}, true},
		{"TLS 1.1 is refused", base, &tls.Config{MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}, false},
		{"min_version 1.3 refuses TLS 1.2", with(func(c *configs.TLS) { c.MinVersion = "1.3" }),
			&tls.Config{MaxVersion: tls.VersionTLS12}, false},
		{"CBC suites are not offered by default", base, &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
		{"configured cipher suites are honored", with(func(c *configs.TLS) {
			c.CipherSuites = []configs.CipherSuite{configs.CipherSuite(tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)}
		}), &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			l, err := newListener(0, []Site{tc.site}, quiet, fastOpts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			addr := serveTLS(t, l)
			tc.client.InsecureSkipVerify = true
			c, err := tls.Dial("tcp", addr, tc.client)
			if err == nil {
				c.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("handshake error %v, want success %v", err, tc.ok)
			}
		})
	}
}

func TestSessionTicketsDisabled(t *testing.T) {
	ca, dir := newCA(t), t.TempDir()
	s := sitePair(t, ca, dir, "alpha", "", "alpha.test")
	s.TLS.SessionTicketsDisabled = true
	l, err := newListener(0, []Site{s}, quiet, fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := serveTLS(t, l)
	cfg := &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for i := range 2 {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		get(t, c) // TLS 1.3 tickets arrive after the handshake
		if c.ConnectionState().DidResume {
			t.Errorf("connection %d resumed a session with tickets disabled", i)
		}
		c.Close()
	}
}

func TestNewListenerRefuses(t *testing.T) {
	ca, dir := newCA(t), t.TempDir()
	alpha := sitePair(t, ca, dir, "alpha", "alpha.test", "alpha.test")
	beta := sitePair(t, ca, dir, "beta", "beta.test", "beta.test")
	with := func(s Site, f func(*configs.TLS)) Site {
		tc := *s.TLS
		f(&tc)
		s.TLS = &tc
		return s
	}
	for _, tc := range []struct {
		desc  string
		sites []Site
		want  string
	}{
		{"no sites", nil, "no sites"},
		{"missing tls block", []Site{{Name: "x"}}, `service "x" has no tls`},
		{"missing cert file", []Site{with(alpha, func(c *configs.TLS) { c.CertFile = dir + "/none.crt" })}, "none.crt"},
		{"key of another cert", []Site{with(alpha, func(c *configs.TLS) { c.KeyFile = beta.TLS.KeyFile })}, "private key does not match"},
		{"bad min_version", []Site{with(alpha, func(c *configs.TLS) { c.MinVersion = "1.0" })}, "min_version"},
		{"unknown cipher", []Site{with(alpha, func(c *configs.TLS) { c.CipherSuites = []configs.CipherSuite{0xfefe} })}, "0xfefe"},
		{"min_version disagrees", []Site{alpha, with(beta, func(c *configs.TLS) { c.MinVersion = "1.3" })},
			`services "alpha" and "beta" disagree on min_version`},
		{"session tickets disagree", []Site{alpha, with(beta, func(c *configs.TLS) { c.SessionTicketsDisabled = true })},
			`services "alpha" and "beta" disagree on session_tickets_disabled`},
		{"ciphers disagree", []Site{alpha, with(beta, func(c *configs.TLS) {
			c.CipherSuites = []configs.CipherSuite{configs.CipherSuite(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)}
		})}, `services "alpha" and "beta" disagree on cipher_suites`},
		{"ciphers in another order agree", []Site{
			with(alpha, func(c *configs.TLS) {
				c.CipherSuites = []configs.CipherSuite{0xc02b, 0xc02f}
			}),
			with(beta, func(c *configs.TLS) {
				c.CipherSuites = []configs.CipherSuite{0xc02f, 0xc02b}
			}),
			{Name: "gamma", Host: "alpha.test", TLS: &configs.TLS{CertFile: beta.TLS.CertFile, KeyFile: beta.TLS.KeyFile,
				CipherSuites: []configs.CipherSuite{0xc02f, 0xc02b}}},
		}, `services "alpha" and "gamma" both serve host`},
		{"same host twice", []Site{alpha, {Name: "gamma", Host: "ALPHA.test", TLS: beta.TLS}},
			`services "alpha" and "gamma" both serve host`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			l, err := newListener(443, tc.sites, quiet, fastOpts)
			if err == nil {
				l.Close()
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "443") {
				t.Errorf("error %q, want it to name port 443 and contain %q", err, tc.want)
			}
		})
	}
}

func TestInsecureCipherSuiteLogged(t *testing.T) {
	ca, dir := newCA(t), t.TempDir()
	s := sitePair(t, ca, dir, "alpha", "", "alpha.test")
	s.TLS.CipherSuites = []configs.CipherSuite{configs.CipherSuite(tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256)}
	log, logs := newLog()
	l, err := newListener(0, []Site{s}, log, fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if !strings.Contains(logs.String(), "tls cipher suite is insecure") ||
		!strings.Contains(logs.String(), "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256") {
		t.Errorf("insecure suite not logged:\n%s", logs)
	}
}
