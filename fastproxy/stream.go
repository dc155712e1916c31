package fastproxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/spillway-lb/spillway/balancer"
	"github.com/valyala/fasthttp"
)

// streamTransport is the HostClient transport of every backend. It sends
// the request (streaming its body when the server streams it) and reads
// only the response head; the body streams to the client through a
// pooled backendBody as the server writes it, so memory stays bounded
// whatever the size. fasthttp's own streaming transport allocates four
// closures per response; this one allocates nothing once warm.
//
// C is fasthttp's unexported connection type, inferred from the
// HostClient's AcquireConn, ReleaseConn and CloseConn method values, which
// are bound once per backend at start-up.
type streamTransport[C interface{ Conn() net.Conn }] struct {
	acquire func(time.Duration, bool) (C, error)
	release func(C)
	close   func(C)
	// maxIdle caps the idle connections kept (connection_pool.max_idle); 0: no cap.
	maxIdle int
	// idleMu makes done's count-then-release one step; without it two
	// responses finishing together both see room for one more and the
	// pool ends up over max_idle.
	idleMu sync.Mutex
	bodies sync.Pool // of *backendBody[C]
	// log and addr name the backend when its answer breaks off.
	log  *slog.Logger
	addr string
}

func newStreamTransport[C interface{ Conn() net.Conn }](acquire func(time.Duration, bool) (C, error), release, closeConn func(C), maxIdle int, log *slog.Logger, addr string) *streamTransport[C] {
	return &streamTransport[C]{acquire: acquire, release: release, close: closeConn, maxIdle: maxIdle, log: log, addr: addr}
}

// RoundTrip implements fasthttp.RoundTripper. Errors report retry=false:
// the proxy retries by its own rules (retry.go), on another backend.
func (t *streamTransport[C]) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	cc, err := t.acquire(0, req.ConnectionClose())
	for err == nil && closedWhileIdle(cc.Conn()) {
		t.close(cc) // the backend let it go while it waited (conn_alive.go)
		cc, err = t.acquire(0, req.ConnectionClose())
	}
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	bw := hc.AcquireWriter(conn)
	body := req.BodyStream() // Write lets go of it
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	} else if !writerFailed(bw) {
		// The backend took all it was given: what failed was reading the
		// body (the client's, or a plugin's replacement), or serializing
		// the request.
		err = &clientError{err: err, aborted: bodyFailed(body), plugin: pluginBodyFailed(body)}
	}
	hc.ReleaseWriter(bw)
	early := false
	if err != nil {
		var ce *clientError
		if errors.As(err, &ce) || isTimeout(err) {
			t.close(cc)
			return false, err
		}
		// The backend stopped taking the request (reset, or closed): it
		// may have answered first, as servers answer an upload they refuse
		// from its head alone (a 413, a 401) and then close. That answer,
		// when it came, is what the client gets, not a 502; the connection
		// is broken, so the read ends at once either way.
		early = true
	}

	// Let other connections' work run before reading the answer. The
	// backend needs tens of microseconds to answer, so a read made at once
	// fails with EAGAIN and parks the goroutine until the poller wakes it:
	// one wasted system call and one park per request. Read after a yield,
	// it usually finds the answer waiting. On one core under load this cut
	// the reads per request from 4 to 3 and the CPU per request by about a
	// tenth without raising p99; when nothing else is runnable the yield
	// returns at once. (Yielding before reading the client's next request
	// as well saved little more and tripled p99 at saturation: yielded
	// goroutines run ahead of those the poller wakes.)
	runtime.Gosched()

	br := hc.AcquireReader(conn)
	if herr := readHead(&resp.Header, br); herr != nil {
		hc.ReleaseReader(br)
		t.close(cc)
		if early {
			return false, err // no answer: the failed write is the error
		}
		return false, herr
	}
	if resp.Header.StatusCode() == fasthttp.StatusSwitchingProtocols {
		// The connection speaks another protocol from here on: it is
		// never pooled again, whatever the answer's fate (upgrade.go).
		if err = checkSwitch(&req.Header, &resp.Header); err != nil {
			hc.ReleaseReader(br)
			t.close(cc)
			return false, &answeredError{err}
		}
		resp.SetBodyStream(newBackendTunnel(t, hc, cc, br), -1)
		return false, nil
	}
	keep := !early && !req.ConnectionClose() && !resp.Header.ConnectionClose()
	size := resp.Header.ContentLength()
	if req.Header.IsHead() || !bodyAllowed(resp.Header.StatusCode()) {
		keep = keep && drained(br)
		hc.ReleaseReader(br)
		t.done(hc, cc, keep)
		return false, nil
	}
	if size >= 0 && size <= inlineBodyMax {
		// A small body is read whole, so the connection goes back to the
		// pool at once and the server writes head and body to the client
		// in one write.
		err = resp.ReadBody(br, 0)
		keep = keep && drained(br)
		hc.ReleaseReader(br)
		if err != nil {
			t.close(cc)
			return false, &answeredError{err}
		}
		t.done(hc, cc, keep)
		return false, nil
	}

	// A large or unsized body streams: a response of our own holds its
	// stream, handed to the server inside backendBody and released when
	// the server has written it.
	// fasthttp writes the head with the first body bytes. When none came
	// with the head, the head goes to the client at once instead, as nginx
	// sends it: a backend that answers now and sends its body later (a
	// long poll, server-sent events, a slow report) must not hold the
	// status from the client, and one that breaks off before the first
	// byte leaves the client a status and a short body, not an empty
	// reply. When the body came with the head, the usual case, both still
	// go in one write.
	resp.ImmediateHeaderFlush = br.Buffered() == 0
	inner := fasthttp.AcquireResponse()
	resp.Header.CopyTo(&inner.Header)
	inner.StreamBody = true
	if err = inner.ReadBody(br, 0); err != nil {
		fasthttp.ReleaseResponse(inner)
		hc.ReleaseReader(br)
		t.close(cc)
		return false, &answeredError{err}
	}
	chunked := size == -1
	if size == -2 {
		// No length and not chunked: the body ends when the backend
		// closes, so the connection cannot be reused.
		keep = false
	}
	if size < 0 {
		size = -1 // re-framed as chunked for the client
	}
	b, _ := t.bodies.Get().(*backendBody[C])
	if b == nil {
		b = &backendBody[C]{t: t}
	}
	b.hc, b.cc, b.br, b.inner, b.keep, b.left, b.eof = hc, cc, br, inner, keep, int64(size), false
	b.sent, b.failed, b.first, b.firstErr = 0, nil, nil, nil
	b.method = append(b.method[:0], req.Header.Method()...)
	b.target = append(b.target[:0], req.Header.RequestURI()...)
	if chunked && !resp.ImmediateHeaderFlush {
		// The first chunk came with the head, and nothing has gone to the
		// client yet: one that does not parse is a 502 now, not an empty
		// reply once the server has begun the answer. (A sized or
		// close-delimited body cannot fail while bytes are buffered.)
		if err = b.prefetch(); err != nil {
			b.failed = nil // the 502 is logged as any backend error is
			b.release(err)
			return false, &answeredError{err}
		}
	}
	resp.SetBodyStream(b, size)
	return false, nil
}

// writerFailed reports whether w failed to write to its connection. A
// bufio.Writer keeps its first write error and returns it from every later
// Write, so an empty Write tells without sending anything. Reading the
// request body fails outside w: its errors come back from Request.Write
// but never stick to w (backend connections have no ReadFrom that could
// read the body for w).
func writerFailed(w *bufio.Writer) bool {
	_, err := w.Write(nil)
	return err != nil
}

// inlineBodyMax is the largest Content-Length body read whole instead of
// streamed. It bounds the memory a request can pin (like nginx's
// proxy_buffers) while sparing small answers the per-chunk copying and
// writes of a stream.
const inlineBodyMax = 64 << 10

// readHead reads a response head into h, skipping interim 1xx answers
// (other than 101) as fasthttp's Response.Read does. A failure once any
// byte of an answer arrived is an answeredError: an interim answer was
// read, or part of a head is still in br (fasthttp discards a head only
// when it parsed).
func readHead(h *fasthttp.ResponseHeader, br *bufio.Reader) error {
	for n := 0; ; n++ {
		if err := awaitHead(br); err != nil {
			return &answeredError{err}
		}
		if err := h.Read(br); err != nil {
			if n > 0 || br.Buffered() > 0 {
				return &answeredError{err}
			}
			return err
		}
		code := h.StatusCode()
		if code < 100 || code > 199 || code == fasthttp.StatusSwitchingProtocols {
			return nil
		}
		if n >= 100 {
			return &answeredError{errTooManyInterim}
		}
	}
}

var errTooManyInterim = errors.New("backend sent too many 1xx interim responses")

// awaitHead returns once br holds a whole response head, or as soon as it
// is clear h.Read will fail by itself (it reports how): a failed read, a
// status line that is not HTTP's, a head past the buffer. It refuses a
// head whose blank line ends in a bare LF, which fasthttp would wait on
// for a CRLF CRLF that never comes, until backend_response, and answer
// 504 as if the backend were slow; the server refuses such a request head
// in the same way (errEdgeBareLFHead). A head that came whole costs one
// search of the bytes buffered.
func awaitHead(br *bufio.Reader) error {
	if _, err := br.Peek(1); err != nil {
		return nil
	}
	for {
		b, _ := br.Peek(br.Buffered())
		switch {
		case bytes.Contains(b, headEnd):
			return nil
		case bareLFEnd(b):
			return errBackendBareLFHead
		case bytes.IndexByte(b, '\n') >= 0 && !bytes.HasPrefix(b, httpPrefix),
			len(b) == br.Size():
			return nil
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return nil
		}
	}
}

var httpPrefix = []byte("HTTP/")

var errBackendBareLFHead = errors.New("backend's response head ends in a bare LF")

// bareLFEnd reports whether b holds a blank line that ends a head with a
// bare LF: LF LF, or LF CR LF not preceded by CR.
func bareLFEnd(b []byte) bool {
	var w uint32
	for _, x := range b {
		w = w<<8 | uint32(x)
		if bareLFWindow(w) {
			return true
		}
	}
	return false
}

// drained reports whether br holds nothing past the answer just read, so
// that its connection may be pooled. A backend that sends more than its
// answer holds (a body to a HEAD, bytes past its Content-Length or its
// last chunk) leaves them in the connection, which would hand them to the
// next request, perhaps another client's, as the start of its answer: a
// 502 for that innocent request, or a forged answer if the bytes look like
// one. Such a connection is closed (nginx closes it too). Bytes that
// arrive later are caught, for a connection idle long enough, by
// closedWhileIdle.
func drained(br *bufio.Reader) bool { return br.Buffered() == 0 }

// bodyAllowed reports whether a response with this status may carry a
// body (RFC 9110 §6.4.1).
func bodyAllowed(code int) bool {
	return code >= 200 && code != fasthttp.StatusNoContent && code != fasthttp.StatusNotModified
}

// done returns a connection to the pool, or closes it when it cannot be
// reused or the pool already holds max_idle idle ones.
func (t *streamTransport[C]) done(hc *fasthttp.HostClient, cc C, keep bool) {
	if keep {
		markIdle(cc.Conn())
	}
	if keep && t.maxIdle > 0 {
		t.idleMu.Lock()
		keep = hc.IdleConnsCount() < t.maxIdle
		if keep {
			t.release(cc)
		}
		t.idleMu.Unlock()
		if keep {
			return
		}
	} else if keep {
		t.release(cc)
		return
	}
	t.close(cc)
}

// backendBody is a backend response body on its way to the client. The
// server reads it and then calls CloseWithError exactly once, which
// returns the connection to the pool when the whole body was read and
// closes it otherwise. It must not be used after that.
type backendBody[C interface{ Conn() net.Conn }] struct {
	t     *streamTransport[C]
	hc    *fasthttp.HostClient
	cc    C
	br    *bufio.Reader
	inner *fasthttp.Response
	keep  bool
	// left is what remains of a Content-Length body (-1: chunked).
	left int64
	eof  bool
	// pool and pb, when set, are the balancer's count of this request,
	// ended with the body: a backend is busy until its answer is sent, and
	// the answer is judged by how its body ended. counts, when set, are
	// the backend's attempts for the metrics.
	pool   *balancer.Pool
	pb     *balancer.Backend
	judge  bool // holdOutcome: the body's end reports the outcome
	counts *attemptCounts
	// kept: KeepOpen handed b over; the response's close does nothing.
	kept bool
	// sent counts the bytes read from the backend; failed is its read
	// error, if any; method and target are the request's, for the log.
	sent           int64
	failed         error
	method, target []byte
	// first is what prefetch read into prebuf and the server has yet to
	// get; firstErr is the error that came with it (io.EOF when it was the
	// whole body).
	prebuf, first []byte
	firstErr      error
}

// prefetchSize bounds the first read of a chunked body: what the server
// asks for in one read (fasthttp's copy buffer).
const prefetchSize = 4 << 10

// prefetch reads the first piece of the body ahead of the server, and
// returns its error unless it is io.EOF.
func (b *backendBody[C]) prefetch() error {
	if b.prebuf == nil {
		b.prebuf = make([]byte, prefetchSize) // once per pooled backendBody
	}
	n, err := b.Read(b.prebuf)
	b.first = b.prebuf[:n]
	if err != nil && err != io.EOF {
		return err
	}
	b.firstErr = err
	return nil
}

// inflightHolder is a backend's answer (a tunnel) that keeps its request
// counted by the balancer until it is closed.
type inflightHolder interface {
	holdInflight(p *balancer.Pool, b *balancer.Backend)
}

// outcomeHolder is a streamed backend body that keeps its request counted
// by the balancer until the body is closed, and then, after holdOutcome,
// reports whether it came whole (balancer.Pool.Finish).
type outcomeHolder interface {
	inflightHolder
	holdOutcome(p *balancer.Pool, b *balancer.Backend, counts *attemptCounts)
}

func (b *backendBody[C]) holdInflight(p *balancer.Pool, pb *balancer.Backend) {
	b.pool, b.pb, b.judge = p, pb, false
}

func (b *backendBody[C]) holdOutcome(p *balancer.Pool, pb *balancer.Backend, counts *attemptCounts) {
	b.pool, b.pb, b.judge, b.counts = p, pb, true, counts
}

func (b *backendBody[C]) Read(p []byte) (int, error) {
	if len(b.first) > 0 || b.firstErr != nil {
		// What prefetch read, counted then.
		n := copy(p, b.first)
		b.first = b.first[n:]
		if len(b.first) > 0 {
			return n, nil
		}
		err := b.firstErr
		b.firstErr = nil
		return n, err
	}
	n, err := b.inner.BodyStream().Read(p)
	b.sent += int64(n)
	if err != nil && err != io.EOF {
		b.failed = err
	}
	if b.left >= 0 {
		b.left -= int64(n)
		if b.left <= 0 {
			// The server stops after Content-Length bytes without asking
			// for the EOF; the body is nonetheless whole.
			b.eof = true
		}
	}
	if err == io.EOF {
		b.eof = b.left <= 0
	}
	return n, err
}

// CloseWithError implements fasthttp.ReadCloserWithError.
func (b *backendBody[C]) CloseWithError(err error) error {
	if !b.kept {
		b.release(err)
	}
	return nil
}

// KeepOpen hands b over to a stream that reads on from it in place of the
// response that holds it (a plugin's replacement body through the
// adapter): the response's close of b then does nothing, and ReleaseKept,
// called once when that stream is done, releases b instead.
func (b *backendBody[C]) KeepOpen() { b.kept = true }

// ReleaseKept releases b after KeepOpen; err as for CloseWithError.
func (b *backendBody[C]) ReleaseKept(err error) {
	b.kept = false
	b.release(err)
}

// release returns the connection (to the pool when the body was read
// whole), the balancer's count of the request and b itself.
func (b *backendBody[C]) release(err error) {
	whole := err == nil && b.eof
	if b.failed != nil {
		// The access log has the status the answer began with; this is
		// where the operator learns it was cut short, and by whom.
		b.t.log.Warn("backend answer broke off", "backend", b.t.addr, "method", string(b.method),
			"target", string(b.target), "read", b.sent, "error", b.failed)
	}
	b.keep = b.keep && drained(b.br)
	b.inner.CloseBodyStream() //nolint:errcheck // releases fasthttp's stream
	fasthttp.ReleaseResponse(b.inner)
	b.hc.ReleaseReader(b.br)
	if whole {
		b.t.done(b.hc, b.cc, b.keep)
	} else {
		b.t.close(b.cc)
	}
	if b.pool != nil && !b.judge {
		b.pool.Release(b.pb)
	} else if b.pool != nil {
		// A client that left says nothing of the backend: only the
		// backend's own read error fails the answer.
		o := balancer.Success
		if b.failed != nil {
			o = balancer.Failed
		}
		if b.counts != nil {
			b.counts[o].Add(1)
		}
		b.pool.Finish(b.pb, o)
	}
	var zero C
	b.hc, b.cc, b.br, b.inner, b.pool, b.pb, b.judge, b.counts = nil, zero, nil, nil, nil, nil, false, nil
	b.t.bodies.Put(b)
}
