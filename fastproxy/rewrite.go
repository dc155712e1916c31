package fastproxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

var strHTTPSPrefix = []byte("https://")

// redirectHTTPS answers 301 to https://HOST[:redirect_port]/path?query,
// the Host's own port replaced and the request-target kept as it came.
func (s *service) redirectHTTPS(ctx *fasthttp.RequestCtx, sc *pathScratch) {
	host := stripPort(ctx.Request.Header.Host())
	if len(host) == 0 {
		// An HTTP/1.0 request may come without Host: there is no URL to
		// send it to ("https:///path" is none).
		writeError(ctx, fasthttp.StatusBadRequest, msgNoHost)
		return
	}
	path, query := splitRequestURI(sc.uri)
	b := append(sc.target[:0], strHTTPSPrefix...)
	b = append(b, host...)
	b = append(b, s.redirectPort...)
	if len(path) == 0 {
		b = append(b, '/')
	}
	b = append(append(b, path...), query...)
	sc.target = b
	redirect(ctx, b)
}

// redirect answers 301 to location, with no body.
func redirect(ctx *fasthttp.RequestCtx, location []byte) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(fasthttp.StatusMovedPermanently)
	ctx.Response.Header.SetBytesKV(hdrLocation, location)
}

// rewriteLocation maps a backend's 3xx Location that names the backend
// itself back to what the client asked: the client's scheme and Host, and
// the location's prefix in place of the backend's path (and rewrite).
// Locations naming other hosts, and relative ones, are left alone.
func (l *location) rewriteLocation(ctx *fasthttp.RequestCtx, be *backend, sc *pathScratch) {
	code := ctx.Response.StatusCode()
	if code < 300 || code > 399 {
		return
	}
	loc := ctx.Response.Header.PeekBytes(hdrLocation)
	var rest []byte
	for _, o := range be.origins {
		if len(loc) >= len(o) && bytes.EqualFold(loc[:len(o)], o) &&
			(len(loc) == len(o) || loc[len(o)] == '/' || loc[len(o)] == '?') {
			rest = loc[len(o):]
			break
		}
	}
	if rest == nil {
		return
	}
	b := sc.target[:0]
	// Without a Host from the client (HTTP/1.0) there is no name to put
	// in place of the backend's, so the Location becomes relative.
	if host := ctx.Request.Header.Host(); len(host) > 0 {
		if ctx.IsTLS() {
			b = append(b, "https://"...)
		} else {
			b = append(b, "http://"...)
		}
		b = append(b, host...)
	}
	if r, ok := l.unmap(be, rest); ok {
		b = append(b, l.trimmed...)
		rest = r
	}
	if len(rest) == 0 || rest[0] != '/' {
		b = append(b, '/')
	}
	b = append(b, rest...)
	sc.target = b
	ctx.Response.Header.SetBytesKV(hdrLocation, b)
}

// unmap undoes appendTarget on a backend path: the backend's base path and
// the rewrite are removed from p. ok is false when p is not under them (or
// the path was never mapped), and p then stays as the backend wrote it.
func (l *location) unmap(be *backend, p []byte) (rest []byte, ok bool) {
	if be.keepPath || !bytes.HasPrefix(p, be.basePath) {
		return p, false
	}
	p = p[len(be.basePath):]
	if !bytes.HasPrefix(p, l.rewrite) {
		return p, false
	}
	p = p[len(l.rewrite):]
	if len(p) > 0 && p[0] != '/' && p[0] != '?' {
		return p, false
	}
	return p, true
}
