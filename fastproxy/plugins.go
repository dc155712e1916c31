package fastproxy

import "github.com/valyala/fasthttp"

// Plugins runs plugins around the backend exchange of a request. The proxy
// calls it only for services without plugin_disabled, after routing,
// hop-by-hop removal and middleware, and before balancing.
// *pluginhost.Host implements it; the proxy itself knows nothing of net/http.
type Plugins interface {
	// Request runs the request phase on ctx.Request, applying whatever the
	// plugins changed. answered reports that a plugin (or the host, on a
	// panic or timeout) wrote the client's answer into ctx.Response; the
	// proxy then sends it as it is. x carries the exchange to the response
	// phase; it is nil when there is nothing left to do.
	Request(ctx *fasthttp.RequestCtx) (x Exchange, answered bool)
}

// Exchange is one request's plugin state between the two phases.
type Exchange interface {
	// Response runs the response phase on ctx.Response (the backend's
	// answer, hop-by-hop headers already removed) and applies the changes.
	Response(ctx *fasthttp.RequestCtx)
	// Release ends the exchange; called exactly once, after the response
	// phase or instead of it when the request ends early.
	Release()
}

// HeldBody is implemented by the body stream of a backend's answer. Hold
// keeps the stream from being released, even when the response is reset
// or replaced, until release is called: for a plugin that overran its
// budget while reading the body, so that its reads never reach a
// connection or buffer that another request has taken over. release must
// be called exactly once.
type HeldBody interface {
	Hold() (release func())
}
