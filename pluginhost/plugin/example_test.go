package plugin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// apiKey is a small plugin: requests without the right X-API-Key get 401.
type apiKey struct{ key string }

func (p *apiKey) Name() string   { return "api_key" }
func (p *apiKey) Priority() int  { return 10 }
func (p *apiKey) Cleanup() error { return nil }

func (p *apiKey) ProcessRequest(_ context.Context, req *http.Request) *plugin.Result {
	if req.Header.Get("X-API-Key") != p.key {
		return plugin.NewResult(plugin.Stop,
			plugin.WithStatus(http.StatusUnauthorized),
			plugin.WithJSONResponse(map[string]string{"error": "missing or invalid API key"}))
	}
	req.Header.Del("X-API-Key") // the backend does not need it
	return plugin.ResultModify
}

func (p *apiKey) ProcessResponse(_ context.Context, resp *http.Response) *plugin.Result {
	resp.Header.Set("X-Authenticated", "yes")
	return plugin.ResultModify
}

// A plugin is tested like any net/http code: build requests and responses
// with httptest and look at the Result and at what the plugin changed.
func Example() {
	var p plugin.Handler = &apiKey{key: "s3cret"}

	req := httptest.NewRequest("GET", "/orders", nil)
	res := p.ProcessRequest(context.Background(), req)
	fmt.Println(res.Action(), res.StatusCode, res.Headers.Get("Content-Type"), string(res.ResponseBody))
	res.Release()

	req = httptest.NewRequest("GET", "/orders", nil)
	req.Header.Set("X-API-Key", "s3cret")
	res = p.ProcessRequest(context.Background(), req)
	fmt.Println(res.Action(), req.Header.Get("X-API-Key") == "")

	rec := httptest.NewRecorder()
	rec.WriteHeader(http.StatusOK)
	resp := rec.Result()
	resp.Request = req
	res = p.ProcessResponse(context.Background(), resp)
	fmt.Println(res.Action(), resp.Header.Get("X-Authenticated"))
	// Output:
	// Stop 401 application/json {"error":"missing or invalid API key"}
	// Modify true
	// Modify yes
}

// A Stop result without a status answers 403 in the request phase; in the
// response phase it keeps the backend's status and replaces headers and,
// when set, the body.
func ExampleNewResult() {
	res := plugin.NewResult(plugin.Stop,
		plugin.WithStatus(http.StatusTooManyRequests),
		plugin.WithHeaders(http.Header{"Retry-After": {"30"}}),
		plugin.WithJSONResponse(map[string]any{"error": "slow down", "retry_after": 30}))
	defer res.Release() // Spillway does this after applying a returned Result
	fmt.Println(res.Action(), res.StatusCode)
	fmt.Println(res.Headers.Get("Retry-After"), res.Headers.Get("Content-Type"))
	fmt.Println(string(res.ResponseBody))
	// Output:
	// Stop 429
	// 30 application/json
	// {"error":"slow down","retry_after":30}
}

// A Result from NewResult has a Headers map of its own, so headers can be
// set on it after it is made, as in Terraster.
func ExampleNewResult_headers() {
	res := plugin.NewResult(plugin.Stop, plugin.WithStatus(http.StatusUnauthorized))
	defer res.Release()
	res.Headers.Set("WWW-Authenticate", `Bearer realm="api"`)
	fmt.Println(res.StatusCode, res.Headers.Get("WWW-Authenticate"))
	// Output: 401 Bearer realm="api"
}

// WithHeaders merges: each of its keys replaces that header, the others
// stay, whichever option comes first. It copies the values, so one header
// map can serve every request and is never written to.
func ExampleWithHeaders() {
	cors := http.Header{"Access-Control-Allow-Origin": {"*"}} // shared by all requests
	body := map[string]string{"error": "forbidden"}

	after := plugin.NewResult(plugin.Stop, plugin.WithJSONResponse(body), plugin.WithHeaders(cors))
	before := plugin.NewResult(plugin.Stop, plugin.WithHeaders(cors), plugin.WithJSONResponse(body))
	before.Headers.Add("Access-Control-Allow-Origin", "https://shop.example")
	replaced := plugin.NewResult(plugin.Stop, plugin.WithJSONResponse(body),
		plugin.WithHeaders(http.Header{"content-type": {"text/plain"}}))
	for _, res := range []*plugin.Result{after, before, replaced} {
		fmt.Println(res.Headers.Get("Content-Type"), res.Headers["Access-Control-Allow-Origin"])
		res.Release()
	}
	fmt.Println(len(cors), cors["Access-Control-Allow-Origin"])
	// Output:
	// application/json [*]
	// application/json [* https://shop.example]
	// text/plain []
	// 1 [*]
}

// Release empties the Result's own headers for its next use, and leaves
// alone a map the plugin put in Headers itself.
func ExampleResult_Release() {
	mine := http.Header{"X-Mine": {"kept"}}
	res := plugin.NewResult(plugin.Stop, plugin.WithHeaders(http.Header{"X-Old": {"1"}}))
	res.Headers = mine
	res.Release()
	res = plugin.NewResult(plugin.Stop)
	fmt.Println(len(res.Headers), mine.Get("X-Mine"))
	res.Release()
	// Output: 0 kept
}

// The shared results need no allocation; releasing them does nothing.
func ExampleResultContinue() {
	res := plugin.ResultContinue
	res.Release()
	fmt.Println(res.Action(), plugin.ResultModify.Action())
	// Output: Continue Modify
}

// requestID tags requests and has nothing to do with responses, so it says
// so: Spillway then skips its ProcessResponse and, when no other plugin
// needs the response phase, never converts responses to net/http.
type requestID struct{}

func (requestID) Name() string   { return "request_id" }
func (requestID) Priority() int  { return 0 }
func (requestID) Cleanup() error { return nil }
func (requestID) ProcessRequest(_ context.Context, req *http.Request) *plugin.Result {
	req.Header.Set("X-Request-Id", "7f3a9c")
	return plugin.ResultModify
}
func (requestID) ProcessResponse(context.Context, *http.Response) *plugin.Result {
	return plugin.ResultContinue
}
func (requestID) Phases() plugin.Phase { return plugin.RequestPhase }

func ExamplePhaseChooser() {
	var h plugin.Handler = requestID{}
	if pc, ok := h.(plugin.PhaseChooser); ok {
		ph := pc.Phases()
		fmt.Println(ph&plugin.RequestPhase != 0, ph&plugin.ResponsePhase != 0)
	}
	// Output: true false
}
