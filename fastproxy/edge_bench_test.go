package fastproxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// edgeParsedCtx returns a RequestCtx holding raw parsed as a server would.
func edgeParsedCtx(tb testing.TB, raw string) *fasthttp.RequestCtx {
	tb.Helper()
	ctx := &fasthttp.RequestCtx{}
	if err := ctx.Request.Header.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		tb.Fatal(err)
	}
	return ctx
}

// edgeBrowserHead is a typical browser request head.
const edgeBrowserHead = "GET /static/app.js?v=3 HTTP/1.1\r\nHost: www.example.test\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0\r\n" +
	"Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
	"Referer: https://www.example.test/\r\nCookie: session=0123456789abcdef; theme=dark\r\n" +
	"Connection: keep-alive\r\n\r\n"

// BenchmarkEdgeHandler measures the edge's per-request work around a
// handler that does nothing: framing check, limits and panic guard.
func BenchmarkEdgeHandler(b *testing.B) {
	set := edgeSettings{maxBodyBytes: 1 << 20}
	h := &edgeHandler{next: func(*fasthttp.RequestCtx) {}, log: edgeTestLogger(), set: &set}
	ctx := edgeParsedCtx(b, edgeBrowserHead)
	b.ReportAllocs()
	for b.Loop() {
		h.serve(ctx)
	}
}

// edgeLoopbackPair returns both ends of a loopback TCP connection.
func edgeLoopbackPair(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// edgeBrowserHeadBytes is edgeBrowserHead, converted once.
var edgeBrowserHeadBytes = []byte(edgeBrowserHead)

// edgeConnRoundTrip moves one small request and response through ec as a
// kept-alive connection does: idle, head, body, idle again.
func edgeConnRoundTrip(tb testing.TB, client net.Conn, ec *edgeConn, buf []byte) {
	edgeConnState(ec, fasthttp.StateIdle)
	if _, err := client.Write(edgeBrowserHeadBytes); err != nil {
		tb.Fatal(err)
	}
	for got := 0; got < len(edgeBrowserHead); {
		n, err := ec.Read(buf)
		if err != nil {
			tb.Fatal(err)
		}
		got += n
	}
	if ec.phase != edgePhaseBody {
		tb.Fatalf("phase %d after a whole head, want body", ec.phase)
	}
	if _, err := ec.Write(buf[:64]); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(client, buf[:64]); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkEdgeConnRoundTrip measures a request's reads and writes through
// the deadline-arming connection, loopback syscalls included.
func BenchmarkEdgeConnRoundTrip(b *testing.B) {
	client, server := edgeLoopbackPair(b)
	set := edgeSettings{header: time.Minute, read: time.Minute, write: time.Minute, idle: time.Minute}
	ec := &edgeConn{Conn: server, set: &set, reg: &edgeConnRegistry{}}
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		edgeConnRoundTrip(b, client, ec, buf)
	}
}

// edgeKeepAliveClient sends the same request over one connection and reads
// responses of a fixed length, allocating nothing per request.
type edgeKeepAliveClient struct {
	c    net.Conn
	req  []byte
	resp []byte
}

// edgeNewKeepAliveClient connects to addr and learns the response length
// from a warm-up request; every response has the same length (the Date
// header's format is fixed-width).
func edgeNewKeepAliveClient(tb testing.TB, addr, req string) *edgeKeepAliveClient {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	k := &edgeKeepAliveClient{c: c, req: []byte(req)}
	if _, err := c.Write(k.req); err != nil {
		tb.Fatal(err)
	}
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &raw))
	resp, body := edgeRead(tb, br, "POST")
	if resp.StatusCode != 200 || resp.Close {
		tb.Fatalf("warm-up: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	k.resp = make([]byte, raw.Len()-br.Buffered())
	return k
}

// do sends one request and reads one response.
func (k *edgeKeepAliveClient) do(tb testing.TB) {
	if _, err := k.c.Write(k.req); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(k.c, k.resp); err != nil {
		tb.Fatal(err)
	}
}

// edgeAnswerOK answers every request 200 "ok" inside the edge, without
// the proxy, so a benchmark measures fasthttp plus the edge alone. It
// reads the request body as the proxy does: a body left unread costs a
// fasthttp drain (which allocates an io.LimitReader).
func edgeAnswerOK(fasthttp.RequestHandler) fasthttp.RequestHandler {
	body := []byte("ok")
	return func(ctx *fasthttp.RequestCtx) {
		if st := ctx.RequestBodyStream(); st != nil {
			buf := edgeDrainPool.Get().(*[512]byte)
			for {
				if _, err := st.Read(buf[:]); err != nil {
					break
				}
			}
			edgeDrainPool.Put(buf)
		}
		ctx.Response.SetBodyRaw(body)
	}
}

var edgeDrainPool = sync.Pool{New: func() any { return new([512]byte) }}

// BenchmarkEdgeServerKeepAlive measures a whole keep-alive request through
// a real Server (listener, deadlines, framing, panic guard) with a handler
// that answers at once, client included.
func BenchmarkEdgeServerKeepAlive(b *testing.B) {
	s := edgeStart(b, edgeConfig("http://127.0.0.1:1", nil), edgeAnswerOK)
	k := edgeNewKeepAliveClient(b, edgeAddr(b, s), edgeBrowserHead)
	b.ReportAllocs()
	for b.Loop() {
		k.do(b)
	}
}

// edgeFastOrigin is a fasthttp origin answering 200 "ok"; it allocates
// nothing per request, so a benchmark through it shows the proxy's own.
func edgeFastOrigin(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	body := []byte("ok")
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.Response.SetBodyRaw(body) }}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// BenchmarkEdgeServerProxyKeepAlive measures a keep-alive request through
// a real Server and the real proxy to a fasthttp origin, client included.
func BenchmarkEdgeServerProxyKeepAlive(b *testing.B) {
	s := edgeStart(b, edgeConfig(edgeFastOrigin(b), nil), nil)
	k := edgeNewKeepAliveClient(b, edgeAddr(b, s), edgeBrowserHead)
	b.ReportAllocs()
	for b.Loop() {
		k.do(b)
	}
}

// BenchmarkEdgeBaselineFasthttpKeepAlive is BenchmarkEdgeServerKeepAlive
// without the edge: a bare fasthttp server with the same handler, so the
// difference is what the edge costs a request.
func BenchmarkEdgeBaselineFasthttpKeepAlive(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: edgeAnswerOK(nil), StreamRequestBody: true, NoDefaultServerHeader: true}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	k := edgeNewKeepAliveClient(b, ln.Addr().String(), edgeBrowserHead)
	b.ReportAllocs()
	for b.Loop() {
		k.do(b)
	}
}
