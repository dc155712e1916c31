package fastproxy

import (
	"errors"
	"net"
	"os"

	"github.com/spillway-lb/spillway/balancer"
	"github.com/valyala/fasthttp"
)

// Error bodies, one short line each.
const (
	msgBadGateway         = "502 Bad Gateway: the backend did not answer"
	msgGatewayTimeout     = "504 Gateway Timeout: the backend took too long"
	msgServiceUnavailable = "503 Service Unavailable: no backend available"
	msgNotFound           = "404 Not Found: no service for this host or path"
	msgNoHost             = "400 Bad Request: a redirect to HTTPS needs a Host header"
	msgClientAborted      = "400 Bad Request: the request did not arrive whole"
	msgNotForwardable     = "400 Bad Request: the request cannot be forwarded as sent"
	msgPluginBody         = "502 Bad Gateway: a plugin's request body failed"
	msgNoResources        = "503 Service Unavailable: the proxy is out of resources"
)

// statusFor is the one place a forwarding error becomes a status: the
// client's own failure is 400 (the edge makes it 408 or 413 where the body
// says so), no backend to try or the proxy's own shortage of descriptors
// or memory is 503, a timeout 504, and anything else
// (refused, reset, closed without answering, a malformed answer) 502.
func statusFor(err error) (int, string) {
	// First: a client that stalled is a timeout, but not the backend's.
	if ce := clientFault(err); ce != nil {
		switch {
		case ce.aborted:
			// The status the edge answers it with (edgeHandler.refuseBody),
			// so that the log says what the client got: 408 for a stall,
			// 413 over limits.max_body_bytes.
			if status := edgeErrorStatus(ce.err); status != fasthttp.StatusBadRequest {
				return status, fasthttp.StatusMessage(status)
			}
			return fasthttp.StatusBadRequest, msgClientAborted
		case ce.plugin:
			return fasthttp.StatusBadGateway, msgPluginBody
		}
		return fasthttp.StatusBadRequest, msgNotForwardable
	}
	switch {
	case balancer.LocalShortage(err):
		return fasthttp.StatusServiceUnavailable, msgNoResources
	case errors.Is(err, balancer.ErrNoBackend), errors.Is(err, balancer.ErrBusy),
		errors.Is(err, fasthttp.ErrNoFreeConns):
		return fasthttp.StatusServiceUnavailable, msgServiceUnavailable
	case isTimeout(err):
		return fasthttp.StatusGatewayTimeout, msgGatewayTimeout
	default:
		return fasthttp.StatusBadGateway, msgBadGateway
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isConnectError reports that no connection to the backend could be
// opened, so nothing of the request was sent.
func isConnectError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// answeredError is a failure that came after the backend had begun to
// answer (part of a head, or a whole head and then a broken body): the
// request reached the backend and was acted on, so it is never resent,
// whatever its method.
type answeredError struct{ err error }

func (e *answeredError) Error() string { return e.err.Error() }
func (e *answeredError) Unwrap() error { return e.err }

// isAnswered reports whether err came after the backend began to answer.
func isAnswered(err error) bool {
	var ae *answeredError
	return errors.As(err, &ae)
}

// clientError is an attempt that failed on the client's side: the request
// could not be written to the backend although nothing failed between the
// proxy and the backend, because its body stopped arriving (the client
// went away, stalled past client_read, or overran max_body_bytes) or it
// could not be serialized. The backend did nothing wrong, so the balancer
// gets no verdict, and the request is not retried: its body is gone.
type clientError struct {
	err error
	// aborted: the body stopped arriving; otherwise the request could not
	// be serialized as it stands.
	aborted bool
	// plugin: the body a plugin made failed on its own (see pluginBody);
	// neither the client's nor the backend's doing, so 502 and no verdict.
	plugin bool
}

func (e *clientError) Error() string { return e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

// clientFault returns the clientError in err's chain, or nil.
func clientFault(err error) *clientError {
	var ce *clientError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}

// isClientError reports whether err was the client's failure.
func isClientError(err error) bool { return clientFault(err) != nil }

// writeError answers the client with status and a short plain-text body,
// replacing whatever the response held. It is the one place error answers
// are written, so every error looks the same to clients.
func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(msg)
	ctx.Response.AppendBodyString("\n")
}
