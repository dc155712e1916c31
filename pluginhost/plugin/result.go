package plugin

import (
	json "github.com/goccy/go-json"
	"net/http"
	"sync"
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

	// StatusCode is the status a Stop answers with. Zero means 403 in the
	// request phase and "keep the backend's status" in the response phase.
	StatusCode int
	// ResponseBody is the body a Stop answers with. Nil in the response
	// phase keeps the backend's body.
	ResponseBody []byte
	// Headers are set on the answer of a Stop, each key replacing any
	// header of that name.
	Headers http.Header
}

// ResultContinue goes on to the next plugin. It is shared: never change it.
var ResultContinue = &Result{action: Continue}

// ResultModify goes on to the next plugin, saying the plugin changed the
// request or response in place. It is shared: never change it.
var ResultModify = &Result{action: Modify}

// ResultOption sets a field of a Result made by NewResult.
type ResultOption func(*Result)

var resultPool = sync.Pool{New: func() any { return new(Result) }}

// NewResult returns a pooled Result with action and opts applied.
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
// made by NewResult.
func (r *Result) Release() {
	if r == nil || !r.pooled {
		return
	}
	*r = Result{}
	resultPool.Put(r)
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
		if r.Headers == nil {
			r.Headers = make(http.Header, 1)
		}
		r.Headers.Set("Content-Type", "application/json")
	}
}
