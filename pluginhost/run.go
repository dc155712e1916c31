package pluginhost

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spillway-lb/spillway/adapter"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// exchange carries one request's adapter view from the request phase to
// the response phase. It is pooled; Release returns it.
type exchange struct {
	h  *Host
	ax *adapter.Exchange
	// ctxs are the first plugin's contexts of the two phases, made in one
	// allocation on first use and never reused: a plugin may keep its ctx.
	ctxs *[2]callCtx
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

// Request runs the request phase of every plugin taking part in it, in
// order, on ctx.Request and writes their changes back. When a plugin
// answers (Stop), panics (500) or overruns its budget (504), the answer is
// in ctx.Response, answered is true and x is nil. Otherwise x runs the
// response phase; the caller must call x.Release exactly once.
func (h *Host) Request(ctx *fasthttp.RequestCtx) (x fastproxy.Exchange, answered bool) {
	ch := h.chains.Load()
	if len(ch.onRequest) == 0 && len(ch.onResponse) == 0 {
		return nil, false
	}
	ex := exchangePool.Get().(*exchange)
	ex.h, ex.ax = h, adapter.Acquire(ctx)
	if len(ch.onRequest) == 0 {
		// Nothing to convert or run; ex still carries the response phase.
		return ex, false
	}
	req := ex.ax.Request()
	res, o := h.phase(req.Context(), req, nil, ex.rescue(ctx), ex.firstCtx(0))
	switch o {
	case ranPanicked:
		answerError(ctx, fasthttp.StatusInternalServerError)
		ex.Release()
		return nil, true
	case ranTimedOut:
		timedOut(ctx)
		ex.Release()
		return nil, true
	}
	if res.Action() == plugin.Stop {
		answerStop(ctx, res)
		res.Release()
		ex.Release()
		return nil, true
	}
	if err := ex.ax.ApplyRequest(); err != nil {
		h.bodyFailed(ctx, err, requestBodyStatus(err))
		// The rest of the client's body, if any, is not worth draining.
		ctx.SetConnectionClose()
		ex.Release()
		return nil, true
	}
	return ex, false
}

// Response runs the response phase of every plugin taking part in it, in
// order, on ctx.Response and writes their changes back; a Stop result then
// replaces status (if set), headers and body (if set), and later plugins
// are skipped.
func (ex *exchange) Response(ctx *fasthttp.RequestCtx) {
	h := ex.h
	if len(h.chains.Load().onResponse) == 0 {
		return
	}
	resp := ex.ax.Response()
	res, o := h.phase(resp.Request.Context(), nil, resp, ex.rescue(ctx), ex.firstCtx(1))
	switch o {
	case ranPanicked:
		answerError(ctx, fasthttp.StatusInternalServerError)
		return
	case ranTimedOut:
		timedOut(ctx) // releases the backend's stream: the plugin has returned
		return
	}
	if err := ex.ax.ApplyResponse(); err != nil {
		h.bodyFailed(ctx, err, fasthttp.StatusBadGateway)
		res.Release()
		return
	}
	if res.Action() == plugin.Stop {
		overlay(&ctx.Response, res)
		res.Release()
	}
}

// bodyFailed answers status for a body write-back could not read whole
// (adapter.BodyError) and logs why: at Info for a 4xx, the client's doing
// and common on the internet, at Warn otherwise.
func (h *Host) bodyFailed(ctx *fasthttp.RequestCtx, err error, status int) {
	answerError(ctx, status)
	level := slog.LevelWarn
	if status < 500 {
		level = slog.LevelInfo
	}
	h.log.Log(context.Background(), level, "body not forwarded: it could not be read whole",
		"status", status, "method", string(ctx.Method()), "uri", string(ctx.RequestURI()), "error", err)
}

// requestBodyStatus is the answer to a request whose body write-back could
// not read whole: 413 when a plugin's http.MaxBytesReader refused it, 408
// or 400 when the client's upload stalled or broke off (as fastproxy
// answers those), 502 when a body the plugin made failed, as net/http's
// ReverseProxy answers an outgoing body that fails.
func requestBodyStatus(err error) int {
	var tooLarge *http.MaxBytesError
	var be *adapter.BodyError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge):
		return fasthttp.StatusRequestEntityTooLarge
	case errors.As(err, &be) && be.Original && errors.As(err, &ne) && ne.Timeout():
		return fasthttp.StatusRequestTimeout
	case errors.As(err, &be) && be.Original:
		return fasthttp.StatusBadRequest
	}
	return fasthttp.StatusBadGateway
}

// Release returns the exchange and the adapter's objects to their pools.
func (ex *exchange) Release() {
	adapter.Release(ex.ax)
	ex.h, ex.ax, ex.ctxs = nil, nil, nil
	exchangePool.Put(ex)
}

// firstCtx returns the first plugin's context for phase i (0: request,
// 1: response).
func (ex *exchange) firstCtx(i int) *callCtx {
	if ex.ctxs == nil {
		ex.ctxs = new([2]callCtx)
	}
	return &ex.ctxs[i]
}

// rescue is what the watchdog needs to answer ctx's client on its own.
func (ex *exchange) rescue(ctx *fasthttp.RequestCtx) rescue {
	return rescue{ctx: ctx, conn: ctx.Conn(), head: ctx.IsHead(), ax: ex.ax}
}

// timedOut sets the answer of a request whose plugin overran its budget:
// the watchdog already sent the client the same 504 on the connection and
// closed it, so this one only fails to be written, but it is what access
// logs and middleware see.
func timedOut(ctx *fasthttp.RequestCtx) {
	answerError(ctx, fasthttp.StatusGatewayTimeout)
	ctx.SetConnectionClose()
}

// answerOnConn writes a 504, as answerError makes it, on a client's
// connection and closes it; for the watchdog, while the goroutine serving
// the connection is stuck in a plugin. The edge's connection bounds the
// write by client_write. It returns the length of the body it wrote.
func answerOnConn(conn net.Conn, head bool) int {
	r := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(r)
	setError(r, fasthttp.StatusGatewayTimeout)
	r.Header.SetConnectionClose()
	r.Header.Set(fasthttp.HeaderDate, time.Now().UTC().Format(http.TimeFormat))
	r.SkipBody = head
	w := bufio.NewWriterSize(conn, 512)
	if r.Write(w) == nil {
		w.Flush() //nolint:errcheck // the connection is closed either way
	}
	conn.Close()
	if head {
		return 0
	}
	return len(r.Body())
}

// answerStop answers the client with a request-phase Stop result; a
// result without a status answers 403 (Terraster would panic in
// WriteHeader(0)).
func answerStop(ctx *fasthttp.RequestCtx, res *plugin.Result) {
	status := res.StatusCode
	if status == 0 {
		status = fasthttp.StatusForbidden
	}
	ctx.Response.SetStatusCode(status)
	ctx.Response.ResetBody()
	overlay(&ctx.Response, res)
}

// overlay sets res's status (if set), headers and body (if set) on resp.
func overlay(resp *fasthttp.Response, res *plugin.Result) {
	if res.StatusCode != 0 {
		resp.SetStatusCode(res.StatusCode)
	}
	for k, vs := range res.Headers {
		// fasthttp's Del moves the last header into the hole, reordering
		// repeated headers, so a single value over at most one existing
		// header is set in place.
		if len(vs) == 1 && len(resp.Header.PeekAll(k)) <= 1 {
			resp.Header.Set(k, vs[0])
			continue
		}
		resp.Header.Del(k)
		for _, v := range vs {
			resp.Header.Add(k, v)
		}
	}
	if res.ResponseBody != nil {
		resp.SetBody(res.ResponseBody)
	}
}

// answerError replaces the response with a short plain-text error, the
// way fastproxy writes its own.
func answerError(ctx *fasthttp.RequestCtx, status int) { setError(&ctx.Response, status) }

func setError(r *fasthttp.Response, status int) {
	r.Reset()
	r.SetStatusCode(status)
	r.Header.SetContentType("text/plain; charset=utf-8")
	r.SetBodyString(fasthttp.StatusMessage(status))
	r.AppendBodyString("\n")
}
