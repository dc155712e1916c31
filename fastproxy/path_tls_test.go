package fastproxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// pathSelfSigned writes a certificate for 127.0.0.1 and its key to dir.
func pathSelfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "spillway test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"front.example"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func TestTLSListenerSetsForwardedProtoHTTPS(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	cert, key := pathSelfSigned(t)
	svc := pathService("", pathLoc("/", o.URL))
	svc.TLS = &configs.TLS{CertFile: cert, KeyFile: key}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{svc}}, Options{})
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("GET", "https://"+px.Addr+"/", nil)
	req.Header.Set("X-Forwarded-Proto", "http")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got := pathSeenBy(t, string(body)).Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto %q, want https", got)
	}
}

func TestHTTPSBackend(t *testing.T) {
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls:"+r.URL.RequestURI())
	}))
	t.Cleanup(origin.Close)
	loc := configs.Location{Path: "/s/", Backends: []configs.Backend{{URL: origin.URL + "/base", SkipTLSVerify: true}}}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", loc)}}, Options{})
	for i := range 2 { // the second reuses the pooled TLS connection
		resp, body := pathDo(t, px, "GET", "h", "/s/x?y=1", nil, nil)
		if resp.StatusCode != 200 || body != "tls:/base/x?y=1" {
			t.Fatalf("request %d: status %d %q", i, resp.StatusCode, body)
		}
	}
}
