package adapter

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/valyala/bytebufferpool"
)

// errAbandoned is what a body Read returns once the plugin reading it was
// abandoned: the bytes behind the body now belong to another request.
var errAbandoned = errors.New("adapter: request ended; plugin overran its budget")

// bodyReader is the Body of a converted request or response. It reads
// either fasthttp's buffered body (buffered is set lazily on the first
// Read, so an unread body costs nothing) or fasthttp's body stream, keeping
// a copy of every streamed byte in rec so that write-back can send the
// whole body on even though the plugin consumed part of the stream.
//
// mu makes detach wait for a Read in progress: that Read may be copying
// from a buffer or reading a connection that fasthttp reuses right after.
type bodyReader struct {
	mu       sync.Mutex
	src      bodySource // the buffered body's owner; nil for a stream
	stream   io.Reader
	buffered []byte
	loaded   bool
	off      int
	rec      *bytebufferpool.ByteBuffer
	read     bool // Read was called
	closed   bool
	detached bool
	gone     atomic.Bool // detachStream, set without waiting for mu
	// failed is the stream's first read error other than io.EOF: the
	// client's upload or the backend's answer broke off.
	failed error
	// unrecorded: a replacement was applied, which may read the rest of
	// the stream through r; nothing will replay those bytes, so they are
	// not kept (rec would grow to the size of the upload).
	unrecorded bool
}

// bodySource is *fasthttp.Request or *fasthttp.Response.
type bodySource interface{ Body() []byte }

// bindBuffered binds r to the buffered body of src, fetched on first Read.
func (r *bodyReader) bindBuffered(src bodySource) { r.src = src }

// bindStream binds r to a body stream.
func (r *bodyReader) bindStream(s io.Reader) { r.stream = s }

func (r *bodyReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.detached, r.gone.Load():
		return 0, errAbandoned
	case r.closed:
		return 0, errBodyClosed
	}
	r.read = true
	if r.stream != nil {
		n, err := r.stream.Read(p)
		if n > 0 && !r.unrecorded {
			if r.rec == nil {
				r.rec = bytebufferpool.Get()
			}
			r.rec.Write(p[:n]) //nolint:errcheck // never fails
		}
		if err != nil && err != io.EOF && r.failed == nil {
			r.failed = err
		}
		return n, err
	}
	if !r.loaded {
		r.loaded = true
		if r.src != nil {
			r.buffered = r.src.Body()
		}
	}
	if r.off >= len(r.buffered) {
		return 0, io.EOF
	}
	n := copy(p, r.buffered[r.off:])
	r.off += n
	return n, nil
}

// errBodyClosed matches what net/http returns for a read after Close.
var errBodyClosed = errors.New("http: invalid Read on closed Body")

// Close stops further reads; the bytes stay with fasthttp, which sends them
// on unless the plugin replaced the body.
func (r *bodyReader) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}

// consumed reports whether a plugin took bytes out of a body stream, which
// then has to be replayed on write-back.
func (r *bodyReader) consumed() bool { return r.stream != nil && r.read }

// detach makes every later Read fail, after a Read in progress returns.
func (r *bodyReader) detach() {
	r.mu.Lock()
	r.detached = true
	r.mu.Unlock()
}

// detachStream is detach for a body stream that the caller keeps alive
// until the plugin returns (see Abandon): a Read in progress may be
// blocked on the client or the backend for as long as their timeouts, so
// it is not waited for; the Reads after it fail. A buffered body is
// waited for as by detach (its Read only copies).
func (r *bodyReader) detachStream() {
	r.gone.Store(true)
	if r.stream == nil {
		r.detach()
	}
}

// reset unbinds r for reuse; not called on an abandoned exchange.
func (r *bodyReader) reset() {
	if r.rec != nil {
		bytebufferpool.Put(r.rec)
	}
	r.src, r.stream, r.buffered, r.rec, r.failed = nil, nil, nil, nil, nil
	r.loaded, r.read, r.closed, r.detached, r.unrecorded = false, false, false, false, false
	r.gone.Store(false)
	r.off = 0
}

// rebindBuffered binds r afresh to src's buffered body, read from its
// start; what it recorded of a stream stays until reset.
func (r *bodyReader) rebindBuffered(src bodySource) {
	r.mu.Lock()
	r.src, r.stream, r.buffered, r.loaded, r.off = src, nil, nil, false, 0
	r.read, r.closed = false, false
	r.mu.Unlock()
}

// stopRecording makes later stream reads pass through unrecorded.
func (r *bodyReader) stopRecording() {
	r.mu.Lock()
	r.unrecorded = true
	r.mu.Unlock()
}

// streamFailed returns the error that broke off the stream, if it did.
func (r *bodyReader) streamFailed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// BodyError is returned by ApplyRequest and ApplyResponse when a body they
// had to read to the end failed part way: a plugin's replacement body, or
// the rest of a streamed body a plugin read part of. Nothing was written
// back, because what was read is not the whole body and sending it with
// its length would pass it off as complete; the caller answers an error
// instead.
type BodyError struct {
	// Err is the read error.
	Err error
	// Original is set when the error came from the body the plugin was
	// given (the client's upload, the backend's answer), read directly or
	// through a replacement that wraps it; otherwise it came from a body
	// the plugin made.
	Original bool
}

func (e *BodyError) Error() string {
	if e.Original {
		return "adapter: body broke off: " + e.Err.Error()
	}
	return "adapter: replacement body failed: " + e.Err.Error()
}

func (e *BodyError) Unwrap() error { return e.Err }

// replayReader is the request body stream handed back to fasthttp after a
// plugin read part of the streamed body or lowered its length, or replaced
// it with a long one: first the bytes already taken, then the rest of the
// stream, ending after left bytes when left is not negative (fasthttp
// refuses a longer stream). fasthttp closes it once sent, which closes a
// replacement (closer), as net/http's client closes a request body.
type replayReader struct {
	head   []byte
	stream io.Reader
	left   int64
	closer io.Closer
	// replaced: stream is a plugin's replacement, which may read through
	// orig, the original body; err is stream's first read error.
	replaced bool
	orig     *bodyReader
	err      error
}

// PluginFailed reports whether a replacement body failed on its own, not
// because the original it read through (the client's upload) did; the
// proxy then answers 502 rather than blame the client. fastproxy finds it
// on the request's body stream.
func (r *replayReader) PluginFailed() bool {
	return r.replaced && r.err != nil && r.orig.streamFailed() == nil
}

// Close closes the replacement body being replayed, if any.
func (r *replayReader) Close() error {
	if c := r.closer; c != nil {
		r.closer = nil
		return c.Close()
	}
	return nil
}

func (r *replayReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if r.left > 0 && int64(len(p)) > r.left {
		p = p[:r.left]
	}
	var n int
	var err error
	if len(r.head) > 0 {
		n = copy(p, r.head)
		r.head = r.head[n:]
	} else {
		n, err = r.stream.Read(p)
		if err != nil && err != io.EOF && r.err == nil {
			r.err = err
		}
	}
	if r.left > 0 {
		r.left -= int64(n)
	}
	return n, err
}

func (r *replayReader) reset() { *r = replayReader{} }

// keeper is a response body stream that can outlive the response holding
// it: fastproxy's backend body. After KeepOpen the response's close of it
// does nothing; ReleaseKept then releases it, once.
type keeper interface {
	KeepOpen()
	ReleaseKept(err error)
}

// outStream is the response body handed to fasthttp, in place of the
// backend's stream, when a plugin replaced a streamed body or read part of
// one: it reads on (a replay of the recorded bytes and the rest of the
// stream, or the plugin's replacement) while the client is sent the
// answer, after the handler has returned. Its close releases the backend's
// stream and, if Release came first, the Exchange whose body readers the
// replacement may read through.
type outStream struct {
	x       *Exchange
	r       replayReader
	backend keeper
	kept    bool
}

func (o *outStream) Read(p []byte) (int, error) { return o.r.Read(p) }

// KeepOpen and ReleaseKept make an outStream a keeper itself, so that the
// proxy can hand it on in turn (to count what the client is sent): after
// KeepOpen the response's close does nothing, and ReleaseKept does what
// that close would have done.
func (o *outStream) KeepOpen() { o.kept = true }

// ReleaseKept releases o after KeepOpen; err as for CloseWithError.
func (o *outStream) ReleaseKept(err error) {
	o.kept = false
	o.CloseWithError(err) //nolint:errcheck // never fails
}

// CloseWithError implements fasthttp.ReadCloserWithError. fasthttp calls it
// once the answer is written, or when the response is reset.
func (o *outStream) CloseWithError(err error) error {
	if o.kept {
		return nil
	}
	o.r.Close() //nolint:errcheck // a replacement's close error changes nothing sent
	o.backend.ReleaseKept(err)
	x := o.x
	*o = outStream{}
	if x.releaseLater {
		x.releaseLater = false
		x.recycle()
	}
	return nil
}
