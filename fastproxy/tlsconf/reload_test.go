package tlsconf

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

func TestReloadOnFileChangeKeepsOpenConnections(t *testing.T) {
	ca, dir := newCA(t), t.TempDir()
	c1, k1 := ca.leaf(t, "first", time.Now().Add(24*time.Hour), "alpha.test")
	cf, kf := writePair(t, dir, "alpha", c1, k1)
	log, logs := newLog()
	l, err := newListener(0, []Site{{Name: "alpha", TLS: &configs.TLS{CertFile: cf, KeyFile: kf}}}, log, fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := serveTLS(t, l)

	open, err := dialTLS(addr, "alpha.test")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if got := open.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "first" {
		t.Fatalf("first certificate %q", got)
	}
	get(t, open)

	c2, k2 := ca.leaf(t, "second", time.Now().Add(24*time.Hour), "alpha.test")
	writePair(t, dir, "alpha", c2, k2)
	eventually(t, "a new handshake to see the new certificate", func() bool {
		got, err := handshake(t, addr, "alpha.test")
		return err == nil && got == "second"
	})
	if got := get(t, open); got != "ok" {
		t.Errorf("open connection after reload answered %q", got)
	}
	if !strings.Contains(logs.String(), "tls certificate reloaded") {
		t.Errorf("reload not logged:\n%s", logs)
	}
}

func TestReloadOfBrokenFileKeepsOldCertificate(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		break_ func(t *testing.T, cf, kf string, ca *testCA)
		want   string
	}{
		{"garbage certificate", func(t *testing.T, cf, kf string, ca *testCA) {
			replaceFile(t, cf, []byte("not a certificate"))
		}, "failed to find any PEM data"},
		{"certificate of another key", func(t *testing.T, cf, kf string, ca *testCA) {
			c, _ := ca.leaf(t, "other", time.Now().Add(time.Hour), "alpha.test")
			replaceFile(t, cf, c)
		}, "private key does not match"},
		{"removed key", func(t *testing.T, cf, kf string, ca *testCA) {
			c, _ := ca.leaf(t, "other", time.Now().Add(time.Hour), "alpha.test")
			os.Remove(kf)
			replaceFile(t, cf, c)
		}, "no such file"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ca, dir := newCA(t), t.TempDir()
			c1, k1 := ca.leaf(t, "first", time.Now().Add(24*time.Hour), "alpha.test")
			cf, kf := writePair(t, dir, "alpha", c1, k1)
			log, logs := newLog()
			l, err := newListener(0, []Site{{Name: "alpha", TLS: &configs.TLS{CertFile: cf, KeyFile: kf}}}, log, fastOpts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			addr := serveTLS(t, l)

			tc.break_(t, cf, kf, ca)
			eventually(t, "the failed reload to be logged", func() bool {
				return strings.Contains(logs.String(), "tls certificate reload failed")
			})
			if !strings.Contains(logs.String(), tc.want) {
				t.Errorf("log does not say why (%q):\n%s", tc.want, logs)
			}
			got, err := handshake(t, addr, "alpha.test")
			if err != nil || got != "first" {
				t.Errorf("after a broken reload: certificate %q, error %v; want the old one", got, err)
			}
		})
	}
}

func TestExpiringCertificateLogged(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		notAfter time.Duration
		window   configs.Duration
		want     string // "" means nothing is logged
	}{
		{"within the default 14 days", 48 * time.Hour, 0, "tls certificate expires soon"},
		{"outside the default 14 days", 30 * 24 * time.Hour, 0, ""},
		{"within a configured window", 30 * 24 * time.Hour, configs.Duration(60 * 24 * time.Hour), "tls certificate expires soon"},
		{"already expired", -time.Minute, 0, "tls certificate has expired"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ca, dir := newCA(t), t.TempDir()
			c, k := ca.leaf(t, "alpha", time.Now().Add(tc.notAfter), "alpha.test")
			cf, kf := writePair(t, dir, "alpha", c, k)
			log, logs := newLog()
			s := Site{Name: "alpha", TLS: &configs.TLS{CertFile: cf, KeyFile: kf, ExpiryWarning: tc.window}}
			l, err := newListener(0, []Site{s}, log, fastOpts)
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			out := logs.String()
			if tc.want == "" {
				if out != "" {
					t.Errorf("unexpected log:\n%s", out)
				}
				return
			}
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "service=alpha") {
				t.Errorf("log lacks %q for service alpha:\n%s", tc.want, out)
			}
		})
	}
}

func TestExpiryRecheckedDaily(t *testing.T) {
	ca, dir := newCA(t), t.TempDir()
	c, k := ca.leaf(t, "alpha", time.Now().Add(time.Hour), "alpha.test")
	cf, kf := writePair(t, dir, "alpha", c, k)
	log, logs := newLog()
	s := Site{Name: "alpha", TLS: &configs.TLS{CertFile: cf, KeyFile: kf}}
	l, err := newListener(0, []Site{s}, log, options{poll: time.Hour, daily: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	eventually(t, "a second expiry warning", func() bool {
		return strings.Count(logs.String(), "expires soon") >= 2
	})
}
