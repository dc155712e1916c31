package middleware

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// defaultCORSMethods are allowed when allowed_methods is empty.
var defaultCORSMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

// cors implements the Fetch standard's CORS protocol for the service: the
// proxy answers preflight requests itself and decorates the backend's
// answers to cross-origin requests.
type cors struct {
	anyOrigin   bool     // allowed_origins has "*"
	origins     [][]byte // exact origins, compared case-insensitively
	methods     [][]byte // allowed methods, upper case
	methodsLine string   // Access-Control-Allow-Methods
	anyHeader   bool     // allowed_headers has "*"
	headersLine string   // Access-Control-Allow-Headers ("" when none)
	exposedLine string   // Access-Control-Expose-Headers ("" when none)
	credentials bool
	maxAge      string // Access-Control-Max-Age ("" when unset)
}

func newCORS(c *configs.CORS) (*cors, error) {
	if err := invalid(c.Check()); err != nil {
		return nil, err
	}
	r := &cors{credentials: c.AllowCredentials}
	for _, o := range c.AllowedOrigins {
		o = strings.TrimSuffix(strings.TrimSpace(o), "/")
		if o == "*" {
			r.anyOrigin = true
			continue
		}
		r.origins = append(r.origins, []byte(strings.ToLower(o)))
	}
	src := c.AllowedMethods
	if len(src) == 0 {
		src = defaultCORSMethods
	}
	methods := make([]string, len(src))
	for i, m := range src {
		methods[i] = strings.ToUpper(strings.TrimSpace(m))
		r.methods = append(r.methods, []byte(methods[i]))
	}
	r.methodsLine = strings.Join(methods, ", ")
	var hdrs []string
	for _, h := range c.AllowedHeaders {
		if h = strings.TrimSpace(h); h == "*" {
			r.anyHeader = true
			continue
		}
		hdrs = append(hdrs, h)
	}
	r.headersLine = strings.Join(hdrs, ", ")
	r.exposedLine = strings.Join(c.ExposedHeaders, ", ")
	if c.MaxAge > 0 {
		r.maxAge = strconv.Itoa(c.MaxAge)
	}
	return r, nil
}

// allowed reports whether origin may read answers.
func (r *cors) allowed(origin []byte) bool {
	if r.anyOrigin {
		return true
	}
	for _, o := range r.origins {
		if bytes.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// allowOrigin sets Access-Control-Allow-Origin (and -Credentials) for an
// allowed origin. "*" is sent only when any origin is allowed and
// credentials are not: browsers refuse "*" on a credentialed answer, so the
// origin is echoed then, and the answer varies by Origin.
func (r *cors) allowOrigin(h *fasthttp.ResponseHeader, origin []byte) {
	if r.anyOrigin && !r.credentials {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.SetBytesV("Access-Control-Allow-Origin", origin)
	}
	if r.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// variesByOrigin reports whether answers differ by the request's Origin, so
// caches must key on it (every answer says so, even one to a request
// without Origin).
func (r *cors) variesByOrigin() bool { return !r.anyOrigin || r.credentials }

// preflight answers a CORS preflight (OPTIONS with Origin and
// Access-Control-Request-Method) with 204 and reports true. A refused
// preflight gets 204 without Access-Control-Allow-* headers, which the
// browser reads as a refusal.
func (r *cors) preflight(ctx *fasthttp.RequestCtx) bool {
	if !ctx.IsOptions() {
		return false
	}
	rh := &ctx.Request.Header
	origin := rh.Peek("Origin")
	method := rh.Peek("Access-Control-Request-Method")
	if len(origin) == 0 || len(method) == 0 {
		return false
	}
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(fasthttp.StatusNoContent)
	h := &ctx.Response.Header
	// The response was just reset, so Vary can be set whole.
	h.Set("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	if !r.allowed(origin) || !r.methodAllowed(method) {
		return true
	}
	r.allowOrigin(h, origin)
	h.Set("Access-Control-Allow-Methods", r.methodsLine)
	switch {
	case r.anyHeader && !r.credentials:
		h.Set("Access-Control-Allow-Headers", "*")
	case r.anyHeader:
		// "*" is literal on a credentialed request: echo what was asked.
		if asked := rh.Peek("Access-Control-Request-Headers"); len(asked) > 0 {
			h.SetBytesV("Access-Control-Allow-Headers", asked)
		}
	case r.headersLine != "":
		h.Set("Access-Control-Allow-Headers", r.headersLine)
	}
	if r.maxAge != "" {
		h.Set("Access-Control-Max-Age", r.maxAge)
	}
	return true
}

func (r *cors) methodAllowed(m []byte) bool {
	for _, a := range r.methods {
		if bytes.Equal(a, m) {
			return true
		}
	}
	return false
}

// apply decorates an answer to a cross-origin request. The service's cors
// entry is the policy: Access-Control-* headers the backend sent for an
// origin the policy does not allow are removed, so a backend cannot grant
// what the proxy refuses.
func (r *cors) apply(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	if r.variesByOrigin() {
		addVary(h, "Origin")
	}
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 || !r.allowed(origin) {
		h.Del("Access-Control-Allow-Origin")
		h.Del("Access-Control-Allow-Credentials")
		h.Del("Access-Control-Expose-Headers")
		return
	}
	r.allowOrigin(h, origin)
	if r.exposedLine != "" {
		h.Set("Access-Control-Expose-Headers", r.exposedLine)
	}
}
