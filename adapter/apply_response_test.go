package adapter

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestApplyResponseWritesBackPluginChanges(t *testing.T) {
	const repeated = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nVary: Accept\r\nX-A: 2\r\nContent-Length: 5\r\n\r\nhello"
	var teed lockedBuffer // what a plugin's TeeReader copied of the body
	cases := []struct {
		desc   string
		origin string
		plugin func(r *http.Response)
		check  func(t *testing.T, res *http.Response, body string)
	}{
		{"no change", repeated, func(r *http.Response) {}, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Status", res.Status, "200 OK")
			expect(t, "X-A", strings.Join(res.Header["X-A"], ","), "1,2")
			expect(t, "Body", body, "hello")
		}},
		{"status code", repeated, func(r *http.Response) { r.StatusCode = 503 }, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Status", res.Status, "503 Service Unavailable")
		}},
		{"status text", repeated, func(r *http.Response) { r.StatusCode, r.Status = 299, "299 Custom Thing" }, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Status", res.Status, "299 Custom Thing")
		}},
		{"invalid status ignored", repeated, func(r *http.Response) { r.StatusCode = 0 }, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Status", res.Status, "200 OK")
		}},
		{"header set", repeated, func(r *http.Response) { r.Header.Set("Strict-Transport-Security", "max-age=63072000") }, func(t *testing.T, res *http.Response, body string) {
			expect(t, "HSTS", res.Header.Get("Strict-Transport-Security"), "max-age=63072000")
		}},
		{"repeated header deleted", repeated, func(r *http.Response) { r.Header.Del("X-A") }, func(t *testing.T, res *http.Response, body string) {
			expect(t, "X-A", len(res.Header["X-A"]), 0)
		}},
		{"header replaced", repeated, func(r *http.Response) { r.Header.Set("Content-Type", "application/json") }, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Content-Type", res.Header.Get("Content-Type"), "application/json")
		}},
		{"set-cookie added", repeated, func(r *http.Response) { r.Header.Add("Set-Cookie", "s=1; Path=/") }, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Set-Cookie", res.Header.Get("Set-Cookie"), "s=1; Path=/")
		}},
		{"body replaced", repeated, func(r *http.Response) {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("replaced body")), 13
		}, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Body", body, "replaced body")
			expect(t, "ContentLength", res.ContentLength, int64(13))
		}},
		// Replacements that wrap the original must read the backend's
		// bytes, buffered or streamed, before the original is reset.
		{"body wrapped by MaxBytesReader", repeated, func(r *http.Response) {
			r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
		}, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Body", body, "hello")
			expect(t, "ContentLength", res.ContentLength, int64(5))
		}},
		{"body prefixed by MultiReader", repeated, func(r *http.Response) {
			r.Body = io.NopCloser(io.MultiReader(strings.NewReader("P:"), r.Body))
		}, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Body", body, "P:hello")
			expect(t, "ContentLength", res.ContentLength, int64(7))
		}},
		{"body copied by TeeReader", repeated, func(r *http.Response) {
			teed.Reset()
			r.Body = io.NopCloser(io.TeeReader(r.Body, &teed))
		}, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Body", body, "hello")
			expect(t, "teed", teed.String(), "hello")
		}},
		{"chunked body prefixed by MultiReader", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", func(r *http.Response) {
			r.Body = io.NopCloser(io.MultiReader(strings.NewReader("P:"), r.Body))
		}, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Body", body, "P:abc")
		}},
		{"body read then kept", repeated, func(r *http.Response) { io.ReadAll(r.Body) }, func(t *testing.T, res *http.Response, body string) { //nolint:errcheck
			expect(t, "Body", body, "hello")
		}},
		{"content length lowered", repeated, func(r *http.Response) { r.ContentLength = 2 }, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Body", body, "he")
		}},
		{"chunked body replaced", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", func(r *http.Response) {
			r.Body = io.NopCloser(strings.NewReader("xyz!"))
		}, func(t *testing.T, res *http.Response, body string) {
			expect(t, "Body", body, "xyz!")
		}},
	}
	for _, stream := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				c := &fasthttp.HostClient{Addr: origin(t, tc.origin), StreamResponseBody: stream}
				addr := serve(t, false, fetchWith(c, func(ctx *fasthttp.RequestCtx) {
					if stream && !ctx.Response.IsBodyStream() {
						ctx.Error("backend body not streamed", http.StatusInternalServerError)
						return
					}
					x := Acquire(ctx)
					defer Release(x)
					tc.plugin(x.Response())
					x.ApplyResponse()
				}))
				res, body, _ := send(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
				tc.check(t, res, body)
			})
		}
	}
}

// A value a plugin attaches to the request's context in the request phase
// is what the response phase finds through resp.Request.Context().
func TestResponseRequestCarriesRequestPhaseContext(t *testing.T) {
	type key struct{}
	got := make(chan any, 1)
	addr := serve(t, false, fetch(origin(t, typicalResponse), func(ctx *fasthttp.RequestCtx) {
		x := Acquire(ctx)
		defer Release(x)
		req := x.Request()
		*req = *req.WithContext(context.WithValue(req.Context(), key{}, "from request phase"))
		x.ApplyRequest()
		res := x.Response()
		if res.Request != req {
			got <- "Response().Request is not the request phase's *http.Request"
			return
		}
		got <- res.Request.Context().Value(key{})
	}))
	res, body, _ := send(t, addr, browserRequest)
	expect(t, "context value", receive(t, got, res, body), any("from request phase"))
}

// The request's context forwards fasthttp's user values and is canceled
// once the exchange ends.
func TestRequestContextEndsWithExchange(t *testing.T) {
	got := make(chan [3]any, 1)
	addr := serve(t, false, func(ctx *fasthttp.RequestCtx) {
		ctx.SetUserValue("route", "items")
		x := Acquire(ctx)
		c := x.Request().Context()
		before := [2]any{c.Value("route"), c.Err()}
		Release(x)
		got <- [3]any{before[0], before[1], c.Err()}
	})
	res, body, _ := send(t, addr, browserRequest)
	g := receive(t, got, res, body)
	expect(t, "user value", g[0], any("items"))
	expect(t, "Err during", g[1], any(nil))
	expect(t, "Err after", g[2], any(context.Canceled))
}

// A request context kept past its exchange answers with its own request's
// user values while the Exchange (and its context) serve later requests.
func TestKeptRequestContextKeepsItsOwnUserValues(t *testing.T) {
	first := benchCtx(t)
	first.SetUserValue("id", 1)
	x := Acquire(first)
	kept := x.Request().Context()
	Release(x)
	for i := 2; i < 10; i++ {
		ctx := benchCtx(t)
		ctx.SetUserValue("id", i)
		x := Acquire(ctx) // most likely the Exchange just released
		expect(t, "own value", x.Request().Context().Value("id"), any(i))
		expect(t, "kept value", kept.Value("id"), any(1))
		expect(t, "kept value by []byte key", kept.Value([]byte("id")), any(1))
		Release(x)
	}
	expect(t, "kept Err", kept.Err(), context.Canceled)
}

// An Exchange the pool has just made (as after garbage collection emptied
// the pool) gives its request the same context as a reused one.
func TestFreshExchangeRequestHasTheExchangeContext(t *testing.T) {
	ctx := benchCtx(t)
	ctx.SetUserValue("route", "items")
	runtime.GC()
	runtime.GC() // the second collection drops the pool's victim cache too
	x := Acquire(ctx)
	c := x.Request().Context()
	expect(t, "user value", c.Value("route"), any("items"))
	Release(x)
	expect(t, "Err after Release", c.Err(), context.Canceled)
}

// What ApplyResponse wrote becomes the baseline: a status changed back
// after the first ApplyResponse is written on the next one.
func TestApplyResponseAgainWritesChangesMadeSinceTheFirst(t *testing.T) {
	ctx := benchCtx(t)
	x := Acquire(ctx)
	defer Release(x)
	res := x.Response()
	res.StatusCode, res.Status = 299, "299 Custom Thing"
	x.ApplyResponse()
	expect(t, "first status", ctx.Response.StatusCode(), 299)
	expect(t, "first reason", string(ctx.Response.Header.StatusMessage()), "Custom Thing")
	res.StatusCode, res.Status = 200, "200 OK"
	x.ApplyResponse()
	expect(t, "second status", ctx.Response.StatusCode(), 200)
	expect(t, "second reason", string(ctx.Response.Header.StatusMessage()), "OK")
}

// After an ApplyResponse that held a replacement whole, resp.Body reads
// what the client will be sent, so a replacement that wraps it before a
// second ApplyResponse wraps the first replacement.
func TestSecondResponseReplacementWrapsTheFirst(t *testing.T) {
	ctx := benchCtx(t)
	x := Acquire(ctx)
	defer Release(x)
	r := x.Response()
	want := "B:A:" + string(ctx.Response.Body())
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader("A:"), r.Body))
	if err := x.ApplyResponse(); err != nil {
		t.Fatal(err)
	}
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader("B:"), r.Body))
	if err := x.ApplyResponse(); err != nil {
		t.Fatal(err)
	}
	expect(t, "body", string(ctx.Response.Body()), want)
	expect(t, "Content-Length", ctx.Response.Header.ContentLength(), len(want))
}
