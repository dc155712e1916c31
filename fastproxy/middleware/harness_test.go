package middleware

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf/tlstest"
	"github.com/valyala/fasthttp"
)

// bigText is a compressible body well above minCompressSize.
var bigText = strings.Repeat("Spillway compresses text bodies on the way out. ", 100)

// rig is a fasthttp server on 127.0.0.1 that runs a Chain around canned
// backend answers, the way the proxy does: Request, then (unless answered)
// the backend, then Response.
type rig struct {
	url     string
	client  *http.Client
	backend atomic.Int64 // requests that reached the backend
	gate    chan struct{}
}

// clientHeader names the client address the handler passes to the chain,
// standing in for the proxy's X-Forwarded-For resolution; absent, the
// peer address is used.
const clientHeader = "X-Test-Client"

func newRig(t *testing.T, chain *Chain, overTLS bool) *rig {
	t.Helper()
	r := &rig{gate: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		client, _ := netip.AddrFromSlice(ctx.RemoteIP())
		if v := ctx.Request.Header.Peek(clientHeader); len(v) > 0 {
			client = netip.MustParseAddr(string(v))
		}
		if chain.Request(ctx, client) {
			return
		}
		r.backend.Add(1)
		r.answer(ctx)
		chain.Response(ctx)
	}}
	tr := &http.Transport{DisableCompression: true}
	scheme := "http"
	if overTLS {
		scheme = "https"
		cert := tlstest.Certificate(t, "127.0.0.1")
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Shutdown() //nolint:errcheck
	})
	r.url = scheme + "://" + ln.Addr().String()
	r.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return r
}

// answer is the canned backend, chosen by path.
func (r *rig) answer(ctx *fasthttp.RequestCtx) {
	resp := &ctx.Response
	resp.Header.Set("X-Backend", "yes")
	switch string(ctx.Path()) {
	case "/cors-backend":
		resp.Header.Set("Access-Control-Allow-Origin", "*")
		resp.SetBodyString("backend says anyone")
	case "/small":
		resp.Header.SetContentType("text/plain")
		resp.SetBodyString("hello")
	case "/png":
		resp.Header.SetContentType("image/png")
		resp.SetBodyString(bigText)
	case "/encoded":
		resp.Header.SetContentType("text/html")
		resp.Header.SetContentEncoding("gzip")
		resp.SetBody(fasthttp.AppendGzipBytes(nil, []byte(bigText)))
	case "/no-transform":
		resp.Header.SetContentType("text/html")
		resp.Header.Set("Cache-Control", "public, no-transform")
		resp.SetBodyString(bigText)
	case "/sized-stream":
		resp.Header.SetContentType("application/json")
		resp.SetBodyStream(strings.NewReader(bigText), len(bigText))
	case "/small-stream":
		resp.Header.SetContentType("application/json")
		resp.SetBodyStream(strings.NewReader("{}"), 2)
	case "/stream":
		// Chunked: the first part, then the rest only once the test has
		// decoded the first part, which it can only do if the compressor
		// passed it on without waiting for the end.
		resp.Header.SetContentType("text/plain")
		gate := r.gate
		resp.SetBodyStreamWriter(func(w *bufio.Writer) {
			w.WriteString("first part\n") //nolint:errcheck
			w.Flush()                     //nolint:errcheck
			select {
			case <-gate:
			case <-time.After(5 * time.Second):
			}
			w.WriteString(bigText) //nolint:errcheck
		})
	default:
		resp.Header.SetContentType("text/html; charset=utf-8")
		resp.SetBodyString(bigText)
	}
}

// do sends a request with the given headers ("Name: value") and returns
// the answer with its body read whole (still encoded).
func (r *rig) do(t *testing.T, method, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	return fetch(t, r.client, method, r.url+path, headers...)
}

// fetch sends a request for url with the given headers ("Name: value")
// through c and returns the answer with its body read whole.
func fetch(t *testing.T, c *http.Client, method, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func mustNew(t testing.TB, global, service []configs.Middleware) *Chain {
	t.Helper()
	c, err := New(global, service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
