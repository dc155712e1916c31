// Package adapter gives plugins written for net/http a *http.Request and an
// *http.Response that are views of a fasthttp request in flight, and writes
// whatever a plugin changed back into the fasthttp side.
//
// The host calls Acquire when a request reaches the plugin chain, Request
// and ApplyRequest around the request phase, Response and ApplyResponse
// around the response phase, and Release when the request is done. Nothing
// is converted until Request or Response is called, and a body is read only
// when a plugin reads it.
//
// Ownership: the *http.Request, *http.Response, their Header maps, URL, TLS
// state and body readers belong to the Exchange and are reused after
// Release, like the *http.Request of a net/http handler is not the
// handler's to keep. Every string and []string a plugin finds in them is a
// fresh allocation owned by the garbage collector and stays valid forever,
// so a plugin may keep a header value, a path or a header's value slice.
package adapter

import (
	"net/http"
	"net/url"
	"sync"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// Exchange is the net/http view of one proxied request and its response.
//
// An Exchange is used by one goroutine at a time: the host calls its
// methods in phase order, and a plugin uses the *http.Request and
// *http.Response only while its phase runs. It must not be copied.
type Exchange struct {
	_ noCopy

	ctx       *fasthttp.RequestCtx
	abandoned bool

	// rctx is the context of req; it stays bound to this Exchange so that
	// binding a new fasthttp.RequestCtx costs no allocation (see context.go).
	rctx reqContext
	// reqZero is a zero http.Request whose context is rctx. net/http offers
	// no way to set a context in place, so it is made once per Exchange by
	// WithContext and copied over req on every reset.
	reqZero http.Request

	req       http.Request
	reqDone   bool // req was converted
	reqURL    url.URL
	reqHeader http.Header
	reqBody   bodyReader
	reqSnap   snapshot
	replay    replayReader
	replayBuf *bytebufferpool.ByteBuffer // the head of a long replacement body
	out       outStream                  // a response body that streams on
	// releaseLater: Release came while out still reads through x.
	releaseLater bool

	res       http.Response
	resDone   bool // res was converted
	resBody   bodyReader
	resHeader http.Header
	resSnap   snapshot

	b build // scratch for conversions, reused
}

var pool = sync.Pool{New: func() any {
	x := new(Exchange)
	x.reqZero = *(&http.Request{}).WithContext(&x.rctx)
	x.req = x.reqZero // a fresh Exchange's request needs rctx too
	return x
}}

// Acquire returns an Exchange bound to ctx from a pool. It converts
// nothing; pair it with Release, normally by defer in the same function.
func Acquire(ctx *fasthttp.RequestCtx) *Exchange {
	x := pool.Get().(*Exchange)
	x.ctx = ctx
	x.rctx.bind(ctx)
	return x
}

// Release ends the exchange and returns it and everything it pooled, unless
// Abandon was called, in which case everything is left to the garbage
// collector because a plugin may still use it. x must not be used after.
//
// When ApplyResponse handed fasthttp a body that reads on from the
// backend's stream (see ApplyResponse), the pooled parts of x stay in use
// until fasthttp has sent it and closed it; Release then only ends the
// request context, and the close recycles x.
func Release(x *Exchange) {
	x.rctx.unbind()
	if x.abandoned {
		return
	}
	if x.out.x != nil {
		x.releaseLater = true
		return
	}
	x.recycle()
}

// recycle returns x and everything it pooled.
func (x *Exchange) recycle() {
	x.reqBody.reset()
	x.resBody.reset()
	x.replay.reset()
	if x.replayBuf != nil {
		bytebufferpool.Put(x.replayBuf)
		x.replayBuf = nil
	}
	if x.reqDone {
		x.req = x.reqZero
		x.reqURL = url.URL{}
		x.reqSnap.reset(x.reqHeader) // keeps the keys of the request itself (see build.sweep)
		x.reqDone = false
	}
	if x.resDone {
		x.res = http.Response{}
		x.resSnap.reset(x.resHeader)
		x.resDone = false
	}
	x.b.reset()
	x.ctx = nil
	pool.Put(x)
}

// Abandon marks x as still in use by a plugin that overran its budget and
// may still run. From then on ApplyRequest and ApplyResponse do nothing
// (the plugin may still be writing what they would read), a body Read by
// the plugin returns an error instead of touching fasthttp's buffers or the
// client connection, the request context reports context.Canceled, and
// Release keeps every object out of the pools. Abandon does not wait for a
// Read of a body stream in progress, which may be blocked on the client or
// the backend (it waits only for a copy out of a buffered body): the
// caller must keep the client connection and the backend stream from being
// reused until the plugin returns. pluginhost runs plugins on the
// goroutine that would reuse them, and calls Abandon from another.
func (x *Exchange) Abandon() {
	x.abandoned = true
	x.rctx.unbind()
	x.reqBody.detachStream()
	x.resBody.detachStream()
}

// RequestConverted reports whether Request was called, that is whether a
// plugin may have seen or changed the request.
func (x *Exchange) RequestConverted() bool { return x.reqDone }

// ResponseConverted reports whether Response was called.
func (x *Exchange) ResponseConverted() bool { return x.resDone }

// noCopy makes go vet report copies of the types that embed it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
