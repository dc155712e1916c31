package fastproxy

import (
	"io"
	"time"

	"github.com/spillway-lb/spillway/fastproxy/accesslog"
	"github.com/valyala/fasthttp"
)

// streamedAnswer stands in for the body of an answer that streams (the
// server writes it after the handler has returned) so that the answer is
// counted and logged when its body ends, with the body bytes the client
// was given and the time to the last of them. Recorded at its head, a
// download broken off after a few bytes would show its whole length, and
// a ten-second stream the milliseconds to its first byte.
//
// Each edgeConn has one: a connection writes one answer at a time. The
// entry's request fields are copied, because fasthttp resets the request
// before it closes a body it did not write itself (a hijacked
// connection's, see closeDelimited).
type streamedAnswer struct {
	inner keptStream
	e     *edgeHandler
	note  accessNote
	en    accesslog.Entry
	buf   []byte
	ended bool
}

// keptStream is a body stream that can be handed over without being
// closed (the backend's body, or the adapter's stream over it): after
// KeepOpen the response's close of it does nothing, and ReleaseKept
// releases it, once.
type keptStream interface {
	io.Reader
	KeepOpen()
	ReleaseKept(err error)
}

// hold wraps ctx's response body in a when it streams, and reports whether
// it did; the answer is then recorded when the body ends rather than now.
func (a *streamedAnswer) hold(e *edgeHandler, ctx *fasthttp.RequestCtx, note *accessNote, start time.Time) bool {
	resp := &ctx.Response
	status := resp.StatusCode()
	if !resp.IsBodyStream() || ctx.IsHead() || !bodyAllowed(status) || a.inner != nil {
		return false
	}
	inner, ok := resp.BodyStream().(keptStream)
	if !ok {
		return false
	}
	a.e, a.note, a.ended = e, *note, false
	en := e.entry(ctx, note, start, 0, true, status)
	if need := len(en.Method) + len(en.URI) + len(en.Proto) + len(en.Referer) + len(en.UserAgent) + len(en.Host); cap(a.buf) < need {
		a.buf = make([]byte, 0, max(need, 512))
	}
	a.buf = a.buf[:0]
	en.Method, en.URI, en.Proto = a.keep(en.Method), a.keep(en.URI), a.keep(en.Proto)
	en.Referer, en.UserAgent, en.Host = a.keep(en.Referer), a.keep(en.UserAgent), a.keep(en.Host)
	a.en = en
	inner.KeepOpen() // the response's close of it, in SetBodyStream, does nothing
	a.inner = inner
	if e.streams != nil {
		e.streams.Add(1)
	}
	// SetBodyStream frames the answer anew from the length; an answer to
	// an HTTP/1.0 client has had its Transfer-Encoding taken out
	// (closeDelimited), and it must stay out.
	chunked := resp.Header.Peek(fasthttp.HeaderTransferEncoding) != nil
	resp.SetBodyStream(a, resp.Header.ContentLength())
	if !chunked {
		resp.Header.Del(fasthttp.HeaderTransferEncoding)
	}
	return true
}

// keep copies p into a.buf, which hold sized for every field, and returns
// the copy.
func (a *streamedAnswer) keep(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	n := len(a.buf)
	a.buf = append(a.buf, p...)
	return a.buf[n:len(a.buf):len(a.buf)]
}

func (a *streamedAnswer) Read(p []byte) (int, error) {
	n, err := a.inner.Read(p)
	a.en.Bytes += int64(n)
	return n, err
}

// end counts and logs the answer, once.
func (a *streamedAnswer) end() {
	if a.ended {
		return
	}
	a.ended = true
	d := time.Since(a.en.Start)
	a.e.count(&a.note, a.en.Status, d)
	if a.e.access != nil {
		a.en.Duration = d
		a.e.access.Record(&a.en)
	}
	if a.e.streams != nil {
		a.e.streams.Done()
	}
}

// CloseWithError implements fasthttp.ReadCloserWithError: fasthttp calls
// it once the body is written, or given up.
func (a *streamedAnswer) CloseWithError(err error) error {
	a.end()
	inner := a.inner
	a.inner, a.e, a.note = nil, nil, accessNote{}
	inner.ReleaseKept(err)
	return nil
}
