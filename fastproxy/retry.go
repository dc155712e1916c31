package fastproxy

import (
	"bytes"
	"io"
	"strings"

	"github.com/spillway-lb/spillway/balancer"
	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// retryPolicy decides whether a failed attempt may be repeated on another
// backend (configs.Retry).
type retryPolicy struct {
	// attempts is how many retries follow the first try. Default 1.
	attempts int
	// maxBody is the largest buffered body that may be resent. Default 64 KiB.
	maxBody int
	// methods are retried after their request was sent: GET, HEAD,
	// OPTIONS, PUT, DELETE and retry.idempotent_methods.
	methods [][]byte
}

func newRetryPolicy(r configs.Retry) retryPolicy {
	p := retryPolicy{attempts: 1, maxBody: r.MaxBodyBytes}
	if r.Attempts != nil {
		p.attempts = max(*r.Attempts, 0)
	}
	if p.maxBody <= 0 {
		p.maxBody = 64 << 10
	}
	for _, m := range append([]string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}, r.IdempotentMethods...) {
		p.methods = append(p.methods, []byte(strings.ToUpper(m)))
	}
	return p
}

// again reports whether the request may be tried once more after err on
// attempt number tried (0 for the first try); streamed is whether the
// request body was a stream before the first try (sending consumes it).
// A failed connect sent nothing, so any request may go again, a streamed
// one too: its body was not read. A failure after the backend began to
// answer is never retried: the backend has acted on the request, nor is
// the client's own failure (clientError): its body is gone. Otherwise
// only an idempotent request whose body the proxy still holds whole is
// resent.
func (p *retryPolicy) again(req *fasthttp.Request, streamed bool, err error, tried int) bool {
	if tried >= p.attempts || isClientError(err) || balancer.LocalShortage(err) {
		// A shortage of the proxy's own would fail the next try as well.
		return false
	}
	if isConnectError(err) {
		return true
	}
	if isAnswered(err) || streamed || len(req.Body()) > p.maxBody {
		return false
	}
	m := req.Header.Method()
	for _, im := range p.methods {
		if bytes.Equal(m, im) {
			return true
		}
	}
	return false
}

// hold makes a small request body resendable and reports whether the body
// remains a stream. With StreamRequestBody the server hands every body as
// a stream, even one it already read whole; a body with a Content-Length
// within maxBody is drained into the request's own buffer (usually no
// network read: it was prefetched), so a retry can send it again. Chunked
// and larger bodies stay streams and are never resent. A body that fails
// to arrive whole while held is a clientError: fasthttp would leave the
// error's text as the body, and a backend must not get that request.
func (p *retryPolicy) hold(req *fasthttp.Request) (streamed bool, err error) {
	if !req.IsBodyStream() {
		return false, nil
	}
	if cl := req.Header.ContentLength(); p.attempts > 0 && cl >= 0 && cl <= p.maxBody {
		body := req.BodyStream()
		req.Body()
		if bodyFailed(body) {
			return false, &clientError{err: body.(bodyReader).readErr(), aborted: true}
		}
		return req.IsBodyStream(), nil
	}
	return true, nil
}

// bodyReader is a request body that remembers why it stopped short
// (edgeBody): fasthttp's Request.Body and Write do not say.
type bodyReader interface {
	readErr() error
}

// pluginBody is a request body stream a plugin made (the adapter's stream
// of a replacement body), which tells whether it failed on its own rather
// than because the client's body under it did.
type pluginBody interface {
	PluginFailed() bool
}

// pluginBodyFailed reports whether body is a plugin's and failed on its own.
func pluginBodyFailed(body io.Reader) bool {
	p, ok := body.(pluginBody)
	return ok && p.PluginFailed()
}

// bodyFailed reports whether the request body stream body stopped short.
func bodyFailed(body io.Reader) bool {
	b, ok := body.(bodyReader)
	return ok && b.readErr() != nil
}
