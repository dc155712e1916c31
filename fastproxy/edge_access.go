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
// tunnel), and the time since the head arrived. An answer whose body
// streams is recorded when the body ends instead, with the bytes sent and
// the time to the last of them (streamedAnswer). Without read, the
// request's head is not known (fasthttp could not parse it) and its fields
// are left out.
func (e *edgeHandler) finish(ctx *fasthttp.RequestCtx, start time.Time, read bool) {
	var note *accessNote
	if c := edgeConnOf(ctx.Conn()); c != nil {
		if c.rescued.Load() {
			return // RecordRescue recorded the answer the client got
		}
		note = &c.note
		if read && c.answer.hold(e, ctx, note, start) {
			return // recorded when its body ends
		}
	}
	e.record(ctx, note, start, read, ctx.Response.StatusCode())
}

// record counts and logs an answer with status.
func (e *edgeHandler) record(ctx *fasthttp.RequestCtx, note *accessNote, start time.Time, read bool, status int) {
	d := time.Since(start)
	e.count(note, status, d)
	if e.access != nil {
		e.logAccess(ctx, note, start, d, read, status)
	}
}

// count adds an answer to the port's metrics and its service's.
func (e *edgeHandler) count(note *accessNote, status int, d time.Duration) {
	if e.requests != nil {
		e.requests.Observe(status, d)
		if note != nil && note.svc != nil {
			note.svc.requests.Observe(status, d)
		}
	}
}

// RecordRescue counts and logs, as every answer is, the answer with status
// that a Plugins implementation wrote on ctx's connection itself while
// the goroutine serving it was stuck in a plugin (see Plugins), with a
// body of the given length. The answer that goroutine gets to later, if
// ever, is then neither counted nor logged: the client never sees it.
// Call it once the answer is written and before the serving goroutine
// may touch ctx again; it reads ctx's request head. It does nothing on a
// connection the edge did not accept.
func RecordRescue(ctx *fasthttp.RequestCtx, status, bodyLen int) {
	c := edgeConnOf(ctx.Conn())
	if c == nil || c.edge == nil || c.rescued.Swap(true) {
		return
	}
	e := c.edge
	if e.requests == nil && e.access == nil {
		return
	}
	start := ctx.Time()
	d := time.Since(start)
	e.count(&c.note, status, d)
	if e.access != nil {
		en := e.entry(ctx, &c.note, start, d, true, status)
		if !ctx.IsHead() {
			en.Bytes = int64(bodyLen)
		}
		e.access.Record(&en)
	}
}

func (e *edgeHandler) logAccess(ctx *fasthttp.RequestCtx, note *accessNote, start time.Time, d time.Duration, read bool, status int) {
	en := e.entry(ctx, note, start, d, read, status)
	resp := &ctx.Response
	switch {
	case en.Status == fasthttp.StatusSwitchingProtocols:
		en.Bytes = -1 // a tunnel: what crosses it is not counted
	case ctx.IsHead() || !bodyAllowed(en.Status):
	case resp.IsBodyStream():
		en.Bytes = int64(max(resp.Header.ContentLength(), -1))
	default:
		en.Bytes = int64(len(resp.Body()))
	}
	e.access.Record(&en)
}

// entry is the access log entry of ctx's request with status, its body's
// length left for the caller.
func (e *edgeHandler) entry(ctx *fasthttp.RequestCtx, note *accessNote, start time.Time, d time.Duration, read bool, status int) accesslog.Entry {
	req := &ctx.Request.Header
	en := accesslog.Entry{Start: start, Duration: d, Status: status}
	if read {
		en.Method, en.URI, en.Proto = req.Method(), req.RequestURI(), req.Protocol()
		en.Referer, en.UserAgent, en.Host = req.Referer(), req.UserAgent(), req.Host()
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
	return en
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
