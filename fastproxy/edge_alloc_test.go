//go:build !race

package fastproxy

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestEdgeHandlerAllocatesNothing: the edge's work around the proxy
// allocates nothing per request, for every shape of head it checks.
func TestEdgeHandlerAllocatesNothing(t *testing.T) {
	set := edgeSettings{maxBodyBytes: 1 << 20}
	h := &edgeHandler{next: func(*fasthttp.RequestCtx) {}, log: edgeTestLogger(), set: &set}
	for _, tc := range []struct{ desc, raw string }{
		{"browser GET", edgeBrowserHead},
		{"POST with a length", "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n"},
		{"chunked POST head", "POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"absolute-form GET", "GET http://a.test/up HTTP/1.1\r\nHost: a.test\r\n\r\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ctx := edgeParsedCtx(t, tc.raw)
			if n := testing.AllocsPerRun(200, func() { h.serve(ctx) }); n != 0 {
				t.Fatalf("%v allocations per request, want 0", n)
			}
		})
	}
}

// TestEdgeBodyAllocatesNothing: probing and reading a chunked body through
// a pooled edgeBody allocates nothing once warm.
func TestEdgeBodyAllocatesNothing(t *testing.T) {
	data := bytes.Repeat([]byte("c"), 3000)
	src := bytes.NewReader(data)
	buf := make([]byte, 1024)
	n := testing.AllocsPerRun(200, func() {
		src.Reset(data)
		b := acquireEdgeBody(src, 1<<20, -1)
		defer releaseEdgeBody(b)
		if err := b.probe(); err != nil {
			t.Fatal(err)
		}
		total := 0
		for {
			k, err := b.Read(buf)
			total += k
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if total != len(data) {
			t.Fatalf("read %d bytes, want %d", total, len(data))
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per body, want 0", n)
	}
}

// TestEdgeConnAllocatesNothing: arming deadlines on every read and write of
// a kept-alive connection allocates nothing.
func TestEdgeConnAllocatesNothing(t *testing.T) {
	client, server := edgeLoopbackPair(t)
	set := edgeSettings{header: time.Minute, read: time.Minute, write: time.Minute, idle: time.Minute}
	ec := &edgeConn{Conn: server, set: &set, reg: &edgeConnRegistry{}}
	buf := make([]byte, 4096)
	if n := testing.AllocsPerRun(200, func() { edgeConnRoundTrip(t, client, ec, buf) }); n != 0 {
		t.Fatalf("%v allocations per round trip, want 0", n)
	}
}

// TestEdgeServerKeepAliveAllocatesNothing: a whole keep-alive request
// through a real Server, with a handler answering inside the edge,
// allocates nothing once warm (client and server together). A request
// with a body costs exactly one allocation, which is fasthttp's: v1.78's
// server drains every streamed body after the handler with io.CopyN,
// whose io.LimitReader escapes (requestStream.discard), even when the
// body was read to its end.
func TestEdgeServerKeepAliveAllocatesNothing(t *testing.T) {
	s := edgeStart(t, edgeConfig("http://127.0.0.1:1", nil), edgeAnswerOK)
	for _, tc := range []struct {
		desc, raw string
		want      float64
	}{
		{"GET", edgeBrowserHead, 0},
		{"POST with a length", "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello", 1},
		{"chunked POST", "POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			k := edgeNewKeepAliveClient(t, edgeAddr(t, s), tc.raw)
			for range 100 {
				k.do(t)
			}
			if n := testing.AllocsPerRun(500, func() { k.do(t) }); n > tc.want {
				t.Fatalf("%v allocations per request, want %v", n, tc.want)
			}
		})
	}
}
