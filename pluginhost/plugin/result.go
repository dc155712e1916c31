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
	// vals backs the value slices WithHeaders and WithJSONResponse store,
	// so copying a caller's header costs no allocation once warm.
	vals []string

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

// Bounds on what a released Result keeps for reuse: a map or value store
// that grew past them (a plugin that once set many headers) is dropped
// rather than kept in the pool for ever.
const (
	maxPooledKeys   = 32
	maxPooledValues = 64
)

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
// made by NewResult. The Result's own header map and value store are
// emptied, so the pool holds no plugin's strings.
func (r *Result) Release() {
	if r == nil || !r.pooled {
		return
	}
	own, vals := r.own, r.vals
	if len(own) > maxPooledKeys {
		own = make(http.Header)
	}
	clear(own)
	if cap(vals) > maxPooledValues {
		vals = nil
	}
	clear(vals)
	*r = Result{own: own, vals: vals[:0], Headers: own}
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

// put sets key in r's headers to a copy of vs kept in r's value store.
// The slice is capped at its length, so an Add to it reallocates instead
// of overwriting the next key's values.
func (r *Result) put(key string, vs []string) {
	i := len(r.vals)
	r.vals = append(r.vals, vs...)
	r.header()[key] = r.vals[i:len(r.vals):len(r.vals)]
}

// WithStatus sets the Result's StatusCode.
func WithStatus(code int) ResultOption {
	return func(r *Result) { r.StatusCode = code }
}

// WithHeaders merges h into the Result's Headers, as Terraster does: each
// key of h replaces the values of that key (canonicalized, so
// "content-type" replaces the Content-Type that WithJSONResponse set);
// other keys are kept. The values are copied, so h may be shared between
// requests (a package-level CORS header, say) and changed afterwards: the
// Result never writes to it.
func WithHeaders(h http.Header) ResultOption {
	return func(r *Result) {
		for k, vs := range h {
			r.put(http.CanonicalHeaderKey(k), vs)
		}
	}
}

// jsonType is the Content-Type value WithJSONResponse sets; put copies it.
var jsonType = []string{"application/json"}

// WithJSONResponse encodes v as JSON into the Result's ResponseBody and sets
// its Content-Type header to application/json, replacing any set before;
// a later WithHeaders may replace it in turn. A value that cannot be
// encoded gives the body {"error":"internal error"} instead, so a Stop
// still answers with valid JSON.
func WithJSONResponse(v any) ResultOption {
	return func(r *Result) {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(`{"error":"internal error"}`)
		}
		r.ResponseBody = b
		r.put("Content-Type", jsonType)
	}
}
