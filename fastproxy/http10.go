package fastproxy

import (
	"bufio"
	"io"
	"net"
	"sync"

	"github.com/valyala/fasthttp"
)

// closeDelimited sends a response whose body has no known length to an
// HTTP/1.0 client. fasthttp would frame such a body chunked whatever the
// request's version, and an HTTP/1.0 client cannot read that: it takes
// the chunk sizes for body bytes. A server must not send Transfer-Encoding
// to it (RFC 9112 section 6.1), so, as nginx does, the body goes as it is
// and closing the connection ends it (section 6.3, rule 8).
//
// The answer is written from fasthttp's hijack goroutine, which runs after
// the serving goroutine is done with ctx and before ctx is released; the
// release then closes the body stream, as a normal write would. fasthttp's
// shutdown does not wait for a hijacked connection, so closing (when set)
// counts the answer until it is written.
func closeDelimited(ctx *fasthttp.RequestCtx, closing *sync.WaitGroup) {
	resp := &ctx.Response
	if ctx.Request.Header.IsHTTP11() || ctx.IsHead() || !resp.IsBodyStream() || resp.Header.ContentLength() >= 0 {
		return
	}
	resp.Header.Del(fasthttp.HeaderTransferEncoding)
	resp.Header.SetConnectionClose()
	ctx.HijackSetNoResponse(true)
	ec := edgeConnOf(ctx.Conn())
	if ec != nil && closing != nil {
		// Counted until the answer is written or the connection closes,
		// also if fasthttp fails it before handing it over.
		ec.holdShutdown(closing)
	}
	ctx.Hijack(func(c net.Conn) {
		if ec != nil {
			defer ec.releaseShutdown()
		}
		w := bufio.NewWriterSize(c, edgeWriteBuffer)
		if _, err := w.Write(resp.Header.Header()); err != nil {
			return
		}
		if resp.ImmediateHeaderFlush && w.Flush() != nil {
			return // the body is late: the head goes first (stream.go)
		}
		io.Copy(flushEach{w}, resp.BodyStream()) //nolint:errcheck // the connection closes either way
	})
}

// flushEach sends every write at once, as fasthttp sends every chunk of a
// chunked body: what a backend streams (events, a long poll's answer) must
// not wait in the buffer for more.
type flushEach struct{ w *bufio.Writer }

func (f flushEach) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}
