package plugin

import (
	"net/http"
	"sync"

	json "github.com/goccy/go-json"
)

// Result is a plugin's answer to one call. Results from NewResult come
// from a pool: Spillway releases a returned Result once it has applied it,
// so a plugin must not touch a Result after returning it.
//
// A Result may not be shared between goroutines or returned twice, except
// the read-only ResultContinue and ResultModify.
type Result struct {
	action Action
	pooled bool // made by NewResult, so Release may recycle it

	// own is the pooled map NewResult puts in Headers. Release clears own,
	// never Headers: a plugin may have pointed Headers at a map of its own.
	own http.Header

	// StatusCode is the status a Stop answers with. Zero means 403 in the
	// request phase and "keep the backend's status" in the response phase.
	StatusCode int
	// ResponseBody is the body a Stop answers with. Nil in the response
	// phase keeps the backend's body.
	ResponseBody []byte
	// Headers are set on the answer of a Stop, each key replacing any
	// header of that name. In a Result from NewResult it is an empty map
	// owned by the Result, ready for Set and Add, as in Terraster; it is
	// nil in ResultContinue and ResultModify, which must not be changed.
	Headers http.Header
}

// ResultContinue goes on to the next plugin. It is shared: never change it.
var ResultContinue = &Result{action: Continue}

// ResultModify goes on to the next plugin, saying the plugin changed the
// request or response in place. It is shared: never change it.
var ResultModify = &Result{action: Modify}

// ResultOption sets a field of a Result made by NewResult.
type ResultOption func(*Result)

// maxPooledKeys bounds what a released Result keeps for reuse: a map that
// grew past it (a plugin that once set many headers) is dropped rather
// than kept in the pool for ever.
const maxPooledKeys = 32

var resultPool = sync.Pool{New: func() any {
	h := make(http.Header)
	return &Result{own: h, Headers: h}
}}

// NewResult returns a pooled Result with action and opts applied, in
// order. Its Headers is an empty map of its own.
func NewResult(action Action, opts ...ResultOption) *Result {
	r := resultPool.Get().(*Result)
	r.action = action
	r.pooled = true
	for _, o := range opts {
		o(r)
	}
	return r
}

// Action returns what Spillway does next. A nil Result means Continue.
func (r *Result) Action() Action {
	if r == nil {
		return Continue
	}
	return r.action
}

// Release returns r to the pool; Spillway calls it after applying r. It
// does nothing on nil, ResultContinue and ResultModify, or a Result not
// made by NewResult. The Result's own header map is emptied, so the pool
// holds no plugin's strings.
func (r *Result) Release() {
	if r == nil || !r.pooled {
		return
	}
	own := r.own
	if len(own) > maxPooledKeys {
		own = make(http.Header)
	}
	clear(own)
	*r = Result{own: own, Headers: own}
	resultPool.Put(r)
}

// header returns r.Headers, first making it a map if a plugin set it nil.
func (r *Result) header() http.Header {
	if r.Headers == nil {
		if r.own == nil {
			r.own = make(http.Header)
		}
		clear(r.own)
		r.Headers = r.own
	}
	return r.Headers
}

// WithStatus sets the Result's StatusCode.
func WithStatus(code int) ResultOption {
	return func(r *Result) { r.StatusCode = code }
}

// WithHeaders sets the Result's Headers to h; the Result keeps h itself,
// so h must not change after the call.
func WithHeaders(h http.Header) ResultOption {
	return func(r *Result) { r.Headers = h }
}

// WithJSONResponse encodes v as JSON into the Result's ResponseBody and sets
// its Content-Type header to application/json. A value that cannot be
// encoded gives the body {"error":"internal error"} instead, so a Stop
// still answers with valid JSON.
func WithJSONResponse(v any) ResultOption {
	return func(r *Result) {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(`{"error":"internal error"}`)
		}
		r.ResponseBody = b
		r.header().Set("Content-Type", "application/json")
	}
}
