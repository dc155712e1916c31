package tlsconf

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// benchListener is a listener with three named sites and a hostless one.
func benchListener(b *testing.B) *Listener {
	ca, dir := newCA(b), b.TempDir()
	var sites []Site
	for _, h := range []string{"alpha.test", "beta.test", "gamma.test", ""} {
		name := h
		if name == "" {
			name = "default"
		}
		c, k := ca.leaf(b, name, time.Now().Add(90*24*time.Hour), h)
		cf, kf := writePair(b, dir, name, c, k)
		sites = append(sites, Site{Name: name, Host: h, TLS: &configs.TLS{CertFile: cf, KeyFile: kf}})
	}
	l, err := newListener(0, sites, quiet, options{poll: time.Hour, daily: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Close)
	return l
}

// BenchmarkCertificateChoice is the per-handshake SNI lookup.
func BenchmarkCertificateChoice(b *testing.B) {
	l := benchListener(b)
	for _, name := range []string{"beta.test", "unknown.test"} {
		b.Run(name, func(b *testing.B) {
			hello := &tls.ClientHelloInfo{ServerName: name}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.certificate(hello); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandshake is a TLS handshake over loopback against the
// listener's Config (ECDSA P-256 certificates), full and resumed, each
// followed by one small request.
func BenchmarkHandshake(b *testing.B) {
	l := benchListener(b)
	addr := serveTLS(b, l)
	for _, tc := range []struct {
		name  string
		cache tls.ClientSessionCache
	}{{"full", nil}, {"resumed", tls.NewLRUClientSessionCache(8)}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := &tls.Config{ServerName: "beta.test", InsecureSkipVerify: true, ClientSessionCache: tc.cache}
			for b.Loop() {
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					b.Fatal(err)
				}
				get(b, c) // one request; TLS 1.3 tickets arrive after the handshake
				c.Close()
			}
		})
	}
}

// BenchmarkKeepAliveRequest is one small request on a kept-alive
// connection to a fasthttp server, over the listener's TLS and over plain
// TCP, to show what TLS costs per request once the handshake is done.
func BenchmarkKeepAliveRequest(b *testing.B) {
	l := benchListener(b)
	for _, overTLS := range []bool{false, true} {
		name := "plain"
		if overTLS {
			name = "tls"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			addr := ln.Addr().String()
			if overTLS {
				ln = tls.NewListener(ln, l.Config())
			}
			srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
			go srv.Serve(ln)     //nolint:errcheck
			defer srv.Shutdown() //nolint:errcheck
			hc := &fasthttp.HostClient{Addr: addr, IsTLS: overTLS, MaxConns: 1,
				TLSConfig: &tls.Config{ServerName: "beta.test", InsecureSkipVerify: true}}
			defer hc.CloseIdleConnections()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			if overTLS {
				req.SetRequestURI("https://beta.test/")
			} else {
				req.SetRequestURI("http://beta.test/")
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					b.Fatal(err, resp.StatusCode())
				}
			}
		})
	}
}
