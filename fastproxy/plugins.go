package fastproxy

import "github.com/valyala/fasthttp"

// Plugins runs plugins around the backend exchange of a request. The proxy
// calls it only for services without plugin_disabled, after routing,
// hop-by-hop removal and middleware, and before balancing.
// *pluginhost.Host implements it; the proxy itself knows nothing of net/http.
//
// Both phases run on the goroutine serving the client's connection. While
// they run, nothing is buffered for that connection unsent: when a Server
// has Plugins, every response is flushed before the next request is read,
// pipelined or not. So an implementation that cannot wait for a phase to
// end (a plugin past its budget) may answer on ctx.Conn() itself, from
// another goroutine, and must then close it; the serving goroutine's own
// answer, once the phase returns, fails on the closed connection.
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
