package adapter

import (
	"bufio"
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
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// On a TLS listener the request carries the connection's TLS state, as
// net/http's server sets Request.TLS; on plain TCP it is nil.
func TestRequestTLSStateOnTLSListener(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type tlsSeen struct {
		present     bool
		version     uint16
		serverName  string
		handshakeOK bool
	}
	got := make(chan tlsSeen, 1)
	s := &fasthttp.Server{ReadTimeout: 5 * time.Second, Handler: func(ctx *fasthttp.RequestCtx) {
		x := Acquire(ctx)
		defer Release(x)
		r := x.Request()
		if r.TLS == nil {
			got <- tlsSeen{}
			return
		}
		got <- tlsSeen{true, r.TLS.Version, r.TLS.ServerName, r.TLS.HandshakeComplete}
	}}
	done := make(chan struct{})
	go func() { s.ServeTLSEmbed(ln, certPEM, keyPEM); close(done) }() //nolint:errcheck
	t.Cleanup(func() { s.Shutdown(); <-done })                        //nolint:errcheck

	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, ServerName: "spillway.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))                     //nolint:errcheck
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: spillway.test\r\n\r\n") //nolint:errcheck
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	g := receive(t, got, res, "")
	want := tlsSeen{true, c.ConnectionState().Version, "spillway.test", true}
	if g != want {
		t.Errorf("TLS state: got %+v, want %+v", g, want)
	}
}

// selfSigned makes a throwaway certificate for spillway.test.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "spillway.test"},
		DNSNames:     []string{"spillway.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
