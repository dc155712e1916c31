package fastproxy

import (
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillway-lb/spillway/fastproxy/accesslog"
	"github.com/spillway-lb/spillway/fastproxy/metrics"
	"github.com/valyala/fasthttp"
)

// edgeHandler wraps a port's proxy with what every request gets before the
// proxy runs: the strict framing check, the body limit, the probe of a
// chunked body's first chunk, and panic recovery. Its per-request path
// allocates nothing once warm.
type edgeHandler struct {
	next fasthttp.RequestHandler
	log  *slog.Logger
	set  *edgeSettings
	// flushEach makes fasthttp send every response before it reads the
	// next request, when plugins run: see Plugins.
	flushEach bool
	// closing is the port's count of close-delimited answers being
	// written, which shutdown waits for (nil: not counted, in tests).
	closing *sync.WaitGroup
	// streams is the port's count of streamed answers to be recorded
	// (nil: not counted, in tests).
	streams *sync.WaitGroup
	// access is the access log; nil: none.
	access *accesslog.Log
	// requests counts answers for the metrics; nil: metrics are off.
	requests *metrics.Requests
	// tunnels counts the port's open tunnels.
	tunnels *atomic.Int64
	// draining is the server's Drain flag.
	draining *atomic.Bool
}

// errEdgeBodyTooLarge is what a chunked body longer than max_body_bytes
// reads as; fasthttp's own error, so that edgeErrorStatus answers 413.
var errEdgeBodyTooLarge = fasthttp.ErrBodyTooLarge

// serve handles one request: it runs in fasthttp's serving goroutine.
func (e *edgeHandler) serve(ctx *fasthttp.RequestCtx) {
	if e.access != nil || e.requests != nil {
		// Deferred first so that it runs last, after a panic's 500.
		defer e.finish(ctx, time.Now(), true)
	}
	defer e.recoverPanic(ctx)
	c := edgeConnOf(ctx.Conn())
	if c != nil {
		c.note, c.linger = accessNote{}, false
		if c.rescued.Load() { // a plain load: a store is a locked exchange on amd64
			c.rescued.Store(false)
		}
		c.beginBody()
		if e.flushEach {
			// fasthttp keeps a response unsent while the next pipelined
			// request is already buffered, unless the handler set a write
			// deadline; edgeConn ignores the deadline itself.
			ctx.SetWriteDeadline(time.Time{}) //nolint:errcheck // edgeConn's never fails
		}
	}
	if status, why := e.check(&ctx.Request); status != 0 {
		if c != nil && ctx.Request.Header.ContentLength() != 0 {
			c.lingerOnClose() // the body, if the client sends it, is not read
		}
		e.refuse(ctx, status, why, nil)
		return
	}
	if ctx.Request.IsBodyStream() && ctx.Request.Header.ContentLength() != 0 {
		if !e.serveBody(ctx) && c != nil {
			c.lingerOnClose()
		}
	} else {
		e.next(ctx)
	}
	e.switchProtocols(ctx)
	if e.draining != nil && e.draining.Load() && !ctx.Hijacked() {
		ctx.SetConnectionClose()
	}
	closeDelimited(ctx, e.closing)
}

// check returns the status and reason a request head is refused with, or 0.
func (e *edgeHandler) check(req *fasthttp.Request) (int, string) {
	h := &req.Header
	if why := edgeCheckFraming(h); why != "" {
		return fasthttp.StatusBadRequest, string(why)
	}
	if why := edgeCheckTarget(req); why != "" {
		return fasthttp.StatusBadRequest, string(why)
	}
	if n := e.set.maxBodyBytes; n > 0 && int64(h.ContentLength()) > n {
		return fasthttp.StatusRequestEntityTooLarge, "request body too large"
	}
	return 0, ""
}

// expect is fasthttp's ExpectHandler: a request announcing
// "Expect: 100-continue" is refused before its body is invited when its
// head is already enough to refuse it (RFC 9110 section 10.1.1). fasthttp
// then answers with the status and closes the connection.
func (e *edgeHandler) expect(ctx *fasthttp.RequestCtx) int {
	if status, _ := e.check(&ctx.Request); status != 0 {
		return status
	}
	return fasthttp.StatusContinue
}

// serveBody runs the proxy on a request with a body through an edgeBody,
// so that the answer to a body that fails to arrive is the client's fault
// (400, 408 or 413) whatever the proxy made of the failure. A chunked
// body's first chunk is read before the proxy runs, so that a bad one is
// refused before any backend is contacted; one over max_body_bytes is cut
// where it crosses the limit. It reports whether the body was read to its
// end.
func (e *edgeHandler) serveBody(ctx *fasthttp.RequestCtx) bool {
	size := ctx.Request.Header.ContentLength()
	b := acquireEdgeBody(ctx.RequestBodyStream(), e.set.maxBodyBytes, int64(size))
	defer releaseEdgeBody(b)
	if size == -1 {
		if err := b.probe(); err != nil {
			e.refuseBody(ctx, err)
			return false
		}
	}
	ctx.Request.SetBodyStream(b, size)
	e.next(ctx)
	if b.err != nil {
		e.refuseBody(ctx, b.err)
		return false
	}
	return b.eof || b.size >= 0 && b.n >= b.size
}

// recoverPanic answers a request whose handling panicked with 500 and logs
// the panic with its stack; fasthttp itself would let it end the process.
// The connection is closed: the panic may have left the request body half
// read.
func (e *edgeHandler) recoverPanic(ctx *fasthttp.RequestCtx) {
	r := recover()
	if r == nil {
		return
	}
	e.log.Error("panic while handling a request",
		"panic", r,
		"method", string(ctx.Method()),
		"uri", string(ctx.RequestURI()),
		"remote", ctx.RemoteAddr().String(),
		"stack", string(debug.Stack()))
	writeError(ctx, fasthttp.StatusInternalServerError, "internal server error")
	ctx.SetConnectionClose()
}

// refuse answers status without (or instead of) the proxy's answer and
// closes the connection: after a framing error the end of the request on
// the wire is unknown, so nothing after it can be trusted to be a request.
// Refusals are the client's doing, so they are logged at Debug only.
func (e *edgeHandler) refuse(ctx *fasthttp.RequestCtx, status int, why string, err error) {
	writeError(ctx, status, why)
	ctx.SetConnectionClose()
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.Debug("request refused at the edge", "status", status, "reason", why, "error", err,
			"method", string(ctx.Method()), "uri", string(ctx.RequestURI()), "remote", ctx.RemoteAddr().String())
	}
}

// refuseBody refuses a request whose body failed to read: 413 over
// max_body_bytes, 408 when the client paused longer than client_read, 400
// for a framing error or a body cut short.
func (e *edgeHandler) refuseBody(ctx *fasthttp.RequestCtx, err error) {
	status := edgeErrorStatus(err)
	e.refuse(ctx, status, fasthttp.StatusMessage(status), err)
}

// edgeBody reads a request body for the proxy and remembers the first read
// error other than io.EOF; a fixed-length body that ends early reads as
// io.ErrUnexpectedEOF. For a chunked body, probe first reads up to
// len(buf) bytes so that fasthttp's chunk parser has checked the first
// chunk before the request goes anywhere; Read hands them out first.
//
// edgeBodies are pooled; one belongs to a single request and must not be
// used after releaseEdgeBody.
type edgeBody struct {
	src   io.Reader
	limit int64 // 0: no limit
	size  int64 // Content-Length, or -1 for chunked
	n     int64 // body bytes read from src
	eof   bool  // src said io.EOF
	err   error
	head  []byte // probed bytes not yet handed out, within buf
	buf   [512]byte
}

var edgeBodyPool = sync.Pool{New: func() any { return new(edgeBody) }}

func acquireEdgeBody(src io.Reader, limit, size int64) *edgeBody {
	b := edgeBodyPool.Get().(*edgeBody)
	b.src, b.limit, b.size = src, limit, size
	return b
}

func releaseEdgeBody(b *edgeBody) {
	b.src, b.limit, b.size, b.n, b.eof, b.err, b.head = nil, 0, 0, 0, false, nil, nil
	edgeBodyPool.Put(b)
}

// probe reads the start of the body, returning a framing or limit error.
// An empty body (a lone last chunk) probes as zero bytes and io.EOF.
func (b *edgeBody) probe() error {
	for range 8 { // a reader may return 0, nil; don't spin on it
		n, err := b.fill(b.buf[:])
		b.head = b.buf[:n]
		if n > 0 || err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
	return nil
}

// readErr is the first read error other than io.EOF, or nil.
func (b *edgeBody) readErr() error { return b.err }

// Read hands out the probed bytes, then reads on from the stream.
func (b *edgeBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.fill(p)
}

// fill reads from src, counting against the limit and keeping the error.
func (b *edgeBody) fill(p []byte) (int, error) {
	n, err := b.src.Read(p)
	b.n += int64(n)
	if b.limit > 0 && b.n > b.limit {
		b.err = errEdgeBodyTooLarge
		return 0, b.err
	}
	if err == io.EOF && b.size >= 0 && b.n < b.size {
		err = io.ErrUnexpectedEOF
	}
	b.eof = b.eof || err == io.EOF
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}
