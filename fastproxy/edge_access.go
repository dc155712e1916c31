package fastproxy

import (
	"net/netip"
	"time"

	"github.com/spillway-lb/spillway/balancer"
	"github.com/spillway-lb/spillway/fastproxy/accesslog"
	"github.com/valyala/fasthttp"
)

// accessNote is what the proxy learned about the request a connection is
// serving that the access log and the metrics name: the service it was
// routed to, the client the trusted proxies vouch for and the backend
// that answered or was tried last. It lives on the edgeConn, so noting
// costs no allocation.
type accessNote struct {
	svc     *service
	client  netip.Addr
	backend *balancer.Backend
}

// noteOf returns the note of the request ctx serves, or nil on a
// connection the edge did not accept (a test's pipe); the methods below
// do nothing on nil, so the proxy looks the note up once per request.
func noteOf(ctx *fasthttp.RequestCtx) *accessNote {
	if c := edgeConnOf(ctx.Conn()); c != nil {
		return &c.note
	}
	return nil
}

func (n *accessNote) routed(svc *service) {
	if n != nil {
		n.svc = svc
	}
}

func (n *accessNote) from(client netip.Addr) {
	if n != nil {
		n.client = client
	}
}

func (n *accessNote) sentTo(b *balancer.Backend) {
	if n != nil && b != nil {
		n.backend = b
	}
}

// finish counts the answer in the metrics and records it in the access
// log, once it is ready to send: the status, the body's length (-1 for a
// stream of unknown length or a tunnel), and the time since the head
// arrived. A streamed body is still to be sent then, so for it the
// duration is the time to its head. Without read, the request's head is
// not known (fasthttp could not parse it) and its fields are left out.
func (e *edgeHandler) finish(ctx *fasthttp.RequestCtx, start time.Time, read bool) {
	d := time.Since(start)
	note := noteOf(ctx)
	if e.requests != nil {
		e.requests.Observe(ctx.Response.StatusCode(), d)
		if note != nil && note.svc != nil {
			note.svc.requests.Observe(ctx.Response.StatusCode(), d)
		}
	}
	if e.access != nil {
		e.logAccess(ctx, note, start, d, read)
	}
}

func (e *edgeHandler) logAccess(ctx *fasthttp.RequestCtx, note *accessNote, start time.Time, d time.Duration, read bool) {
	req, resp := &ctx.Request.Header, &ctx.Response
	en := accesslog.Entry{Start: start, Duration: d, Status: resp.StatusCode()}
	if read {
		en.Method, en.URI, en.Proto = req.Method(), req.RequestURI(), req.Protocol()
		en.Referer, en.UserAgent, en.Host = req.Referer(), req.UserAgent(), req.Host()
	}
	switch {
	case en.Status == fasthttp.StatusSwitchingProtocols:
		en.Bytes = -1 // a tunnel: what crosses it is not counted
	case ctx.IsHead() || !bodyAllowed(en.Status):
	case resp.IsBodyStream():
		en.Bytes = int64(max(resp.Header.ContentLength(), -1))
	default:
		en.Bytes = int64(len(resp.Body()))
	}
	if note != nil {
		en.Client = note.client
		if note.backend != nil {
			en.Backend = note.backend.Addr
		}
	}
	if !en.Client.IsValid() {
		en.Client = peerAddr(ctx)
	}
	e.access.Record(&en)
}

// readFailed is fasthttp's ErrorHandler: a request that could not be read
// (malformed, too large, too slow) is answered by its status, counted,
// and logged without its head, whose fields fasthttp leaves at their
// defaults.
func (e *edgeHandler) readFailed(ctx *fasthttp.RequestCtx, err error) {
	edgeErrorHandler(ctx, err)
	if e.access != nil || e.requests != nil {
		if n := noteOf(ctx); n != nil {
			*n = accessNote{} // not the previous request's
		}
		// fasthttp has not stamped a request it could not read.
		start := ctx.Time()
		if start.IsZero() {
			start = time.Now()
		}
		e.finish(ctx, start, false)
	}
}
