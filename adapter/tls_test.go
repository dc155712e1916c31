package adapter

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/fastproxy/tlsconf/tlstest"
	"github.com/valyala/fasthttp"
)

// On a TLS listener the request carries the connection's TLS state, as
// net/http's server sets Request.TLS; on plain TCP it is nil.
func TestRequestTLSStateOnTLSListener(t *testing.T) {
	certPEM, keyPEM := tlstest.SelfSigned(t, "spillway.test")
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
