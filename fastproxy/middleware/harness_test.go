package middleware

import (
	"bufio"
	"bytes"
	"context"
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
	gate    *streamGate  // holds /stream's second part
}

// clientHeader names the client address the handler passes to the chain,
// standing in for the proxy's X-Forwarded-For resolution; absent, the
// peer address is used.
const clientHeader = "X-Test-Client"

func newRig(t *testing.T, chain *Chain, overTLS bool) *rig {
	t.Helper()
	r := &rig{gate: newStreamGate()}
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
	case "/type":
		// The Content-Type the test names, on a body that is sent whole,
		// or streamed with stream=1.
		args := ctx.QueryArgs()
		resp.Header.SetContentTypeBytes(args.Peek("ct"))
		if args.Has("stream") {
			resp.SetBodyStream(strings.NewReader(bigText), -1)
		} else {
			resp.SetBodyString(bigText)
		}
	case "/stream":
		// Chunked: the first part, then the rest only once the test has
		// decoded the first part (see streamGate).
		resp.Header.SetContentType("text/plain")
		gate := r.gate
		resp.SetBodyStreamWriter(func(w *bufio.Writer) {
			w.WriteString("first part\n") //nolint:errcheck
			w.Flush()                     //nolint:errcheck
			gate.Hold()
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

// Bounds of a streamed-body test. The backend holds the second part for
// up to streamHoldMax; the client must decode the first part within
// streamFirstWithin, well before that, so a compressor that buffered the
// body until the backend gave up fails instead of passing slowly.
const (
	streamFirstWithin = 2 * time.Second
	streamHoldMax     = 10 * time.Second
)

// streamGate holds the second part of a streamed body until the client
// has decoded the first: the first part can only arrive if the compressor
// passed it on without waiting for the end of the body. Methods are
// exported for the proxy's tests in package middleware_test.
type streamGate struct {
	release  chan struct{}
	timedOut atomic.Bool // the hold ended by streamHoldMax, not Open
}

func newStreamGate() *streamGate { return &streamGate{release: make(chan struct{}, 1)} }

// Hold is the backend's side: it returns once Open is called, or after
// streamHoldMax, which it records.
func (g *streamGate) Hold() {
	select {
	case <-g.release:
	case <-time.After(streamHoldMax):
		g.timedOut.Store(true)
	}
}

// Open releases the backend, at most once per reset (a second Open before
// a Hold would release the next request early).
func (g *streamGate) Open() {
	select {
	case g.release <- struct{}{}:
	default:
	}
}

// reset forgets a previous request's release and timeout.
func (g *streamGate) reset() {
	select {
	case <-g.release:
	default:
	}
	g.timedOut.Store(false)
}

// readStreamed gets url with Accept-Encoding enc through c, and checks
// that the answer is chunked in coding enc, that its first part is decoded
// within streamFirstWithin while g still holds the rest, and that the
// whole body is "first part\n" + bigText.
func readStreamed(t *testing.T, c *http.Client, url, enc string, g *streamGate) {
	t.Helper()
	g.reset()
	defer g.Open() // a failed check must not leave the backend holding
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	late := time.AfterFunc(streamFirstWithin, cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept-Encoding", enc)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("no answer head within %v (%v): the compressor held it back", streamFirstWithin, err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("Content-Encoding"); got != enc {
		t.Fatalf("Content-Encoding %q, want %q", got, enc)
	}
	if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 {
		t.Errorf("not chunked: length %d, transfer-encoding %v", resp.ContentLength, resp.TransferEncoding)
	}
	br := bufio.NewReader(decoder(t, enc, resp.Body))
	first, err := br.ReadString('\n')
	if !late.Stop() {
		t.Fatalf("first part not decoded within %v (%q, %v): the compressor held it back", streamFirstWithin, first, err)
	}
	if err != nil || first != "first part\n" {
		t.Fatalf("first part %q, %v", first, err)
	}
	g.Open()
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != bigText {
		t.Fatalf("rest: %d bytes, %v", len(rest), err)
	}
	if g.timedOut.Load() {
		t.Fatal("the backend sent the rest after its own timeout, not after the client read the first part")
	}
}
