package adapter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/valyala/fasthttp"
)

// recorder is a net/http origin on loopback that reports each request it
// receives, as net/http parsed it.
func recorder(t *testing.T) (addr string, got <-chan seen) {
	c := make(chan seen, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c <- seeRequest(r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://"), c
}

// forward is a handler that runs plugin on the exchange's request, applies
// it and forwards ctx.Request to the origin at addr, as Spillway does.
func forward(addr string, plugin func(r *http.Request)) fasthttp.RequestHandler {
	// Like Spillway's forwarder, keep the path as the plugin encoded it.
	c := &fasthttp.HostClient{Addr: addr, DisablePathNormalizing: true}
	return func(ctx *fasthttp.RequestCtx) {
		x := Acquire(ctx)
		defer Release(x)
		plugin(x.Request())
		x.ApplyRequest()
		if err := c.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error(err.Error(), http.StatusBadGateway)
		}
	}
}

const postRequest = "POST /api/items?page=2 HTTP/1.1\r\n" +
	"Host: api.example\r\n" +
	"Accept: application/json\r\n" +
	"X-Forwarded-For: 10.0.0.1\r\n" +
	"Content-Type: application/x-www-form-urlencoded\r\n" +
	"X-Forwarded-For: 10.0.0.2\r\n" +
	"Content-Length: 11\r\n" +
	"X-Forwarded-For: 10.0.0.3\r\n" +
	"\r\n" +
	"a=1&b=2&c=3"

type ctxKey struct{}

func TestApplyRequestWritesBackPluginChanges(t *testing.T) {
	var teed lockedBuffer // what a plugin's TeeReader copied of the body
	cases := []struct {
		desc   string
		plugin func(r *http.Request)
		check  func(t *testing.T, g seen)
	}{
		{"no change", func(r *http.Request) {}, func(t *testing.T, g seen) {
			want := seen{Method: "POST", Host: "api.example", RequestURI: "/api/items?page=2", Body: "a=1&b=2&c=3"}
			if g.Method != want.Method || g.Host != want.Host || g.RequestURI != want.RequestURI || g.Body != want.Body ||
				strings.Join(g.Header["X-Forwarded-For"], ",") != "10.0.0.1,10.0.0.2,10.0.0.3" {
				t.Errorf("got %+v", g)
			}
		}},
		{"method", func(r *http.Request) { r.Method = "PUT" }, func(t *testing.T, g seen) {
			expect(t, "Method", g.Method, "PUT")
		}},
		{"path with space", func(r *http.Request) { r.URL.Path = "/new path" }, func(t *testing.T, g seen) {
			expect(t, "RequestURI", g.RequestURI, "/new%20path?page=2")
			expect(t, "Path", g.URL.Path, "/new path")
		}},
		{"raw path kept", func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/a/b/c", "/a/b%2Fc" }, func(t *testing.T, g seen) {
			expect(t, "RequestURI", g.RequestURI, "/a/b%2Fc?page=2")
		}},
		{"query", func(r *http.Request) { r.URL.RawQuery = "q=x%20y" }, func(t *testing.T, g seen) {
			expect(t, "RequestURI", g.RequestURI, "/api/items?q=x%20y")
		}},
		{"request URI only", func(r *http.Request) { r.RequestURI = "/other?z=1" }, func(t *testing.T, g seen) {
			expect(t, "RequestURI", g.RequestURI, "/other?z=1")
		}},
		{"host", func(r *http.Request) { r.Host = "internal.example:8080" }, func(t *testing.T, g seen) {
			expect(t, "Host", g.Host, "internal.example:8080")
		}},
		{"header set new", func(r *http.Request) { r.Header.Set("X-Plugin", "yes") }, func(t *testing.T, g seen) {
			expect(t, "X-Plugin", g.Header.Get("X-Plugin"), "yes")
		}},
		{"header add to existing", func(r *http.Request) { r.Header.Add("Accept", "text/plain") }, func(t *testing.T, g seen) {
			expect(t, "Accept", strings.Join(g.Header["Accept"], ","), "application/json,text/plain")
		}},
		{"header delete repeated", func(r *http.Request) { r.Header.Del("X-Forwarded-For") }, func(t *testing.T, g seen) {
			if v, ok := g.Header["X-Forwarded-For"]; ok {
				t.Errorf("X-Forwarded-For still there: %q", v)
			}
		}},
		{"header value edited in place", func(r *http.Request) { r.Header["X-Forwarded-For"][1] = "10.9.9.9" }, func(t *testing.T, g seen) {
			expect(t, "X-Forwarded-For", strings.Join(g.Header["X-Forwarded-For"], ","), "10.0.0.1,10.9.9.9,10.0.0.3")
		}},
		{"header injection neutralized", func(r *http.Request) { r.Header.Set("X-Evil", "a\r\nInjected: 1") }, func(t *testing.T, g seen) {
			expect(t, "X-Evil", g.Header.Get("X-Evil"), "a  Injected: 1")
			expect(t, "Injected", g.Header.Get("Injected"), "")
		}},
		{"body replaced with length", func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("{\"n\":1}")), 7
		}, func(t *testing.T, g seen) {
			expect(t, "Body", g.Body, "{\"n\":1}")
			expect(t, "ContentLength", g.ContentLength, int64(7))
		}},
		{"body replaced, length not updated", func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("short"))
		}, func(t *testing.T, g seen) {
			expect(t, "Body", g.Body, "short")
			expect(t, "ContentLength", g.ContentLength, int64(5))
		}},
		// Replacements that wrap the original must read the client's bytes,
		// from the buffer or from the stream, before the original is reset.
		{"body wrapped by MaxBytesReader", func(r *http.Request) {
			r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
		}, func(t *testing.T, g seen) {
			expect(t, "Body", g.Body, "a=1&b=2&c=3")
			expect(t, "ContentLength", g.ContentLength, int64(11))
		}},
		{"body prefixed by MultiReader", func(r *http.Request) {
			r.Body = io.NopCloser(io.MultiReader(strings.NewReader("P:"), r.Body))
		}, func(t *testing.T, g seen) {
			expect(t, "Body", g.Body, "P:a=1&b=2&c=3")
			expect(t, "ContentLength", g.ContentLength, int64(13))
		}},
		{"body copied by TeeReader", func(r *http.Request) {
			teed.Reset()
			r.Body = io.NopCloser(io.TeeReader(r.Body, &teed))
		}, func(t *testing.T, g seen) {
			expect(t, "Body", g.Body, "a=1&b=2&c=3")
			expect(t, "teed", teed.String(), "a=1&b=2&c=3")
		}},
		{"body removed", func(r *http.Request) { r.Body, r.ContentLength = http.NoBody, 0 }, func(t *testing.T, g seen) {
			expect(t, "Body", g.Body, "")
			expect(t, "ContentLength", g.ContentLength, int64(0))
		}},
		{"content length lowered", func(r *http.Request) { r.ContentLength = 3 }, func(t *testing.T, g seen) {
			expect(t, "Body", g.Body, "a=1")
		}},
		// There are no more bytes to send: the body goes on whole, framed
		// by its real length, and the backend does not wait for the rest.
		{"content length raised past the body", func(r *http.Request) { r.ContentLength = 50 }, func(t *testing.T, g seen) {
			expect(t, "Body", g.Body, "a=1&b=2&c=3")
			expect(t, "ContentLength", g.ContentLength, int64(11))
		}},
		{"body read by plugin", func(r *http.Request) { io.ReadAll(r.Body) }, func(t *testing.T, g seen) { //nolint:errcheck
			expect(t, "Body", g.Body, "a=1&b=2&c=3")
		}},
		{"context replaced, then header set", func(r *http.Request) {
			*r = *r.WithContext(context.WithValue(r.Context(), ctxKey{}, 1))
			r.Header.Set("X-After", "1")
		}, func(t *testing.T, g seen) {
			expect(t, "X-After", g.Header.Get("X-After"), "1")
		}},
		{"request cloned in place", func(r *http.Request) {
			*r = *r.Clone(r.Context())
			r.Header.Del("Accept")
			r.URL.Path = "/cloned"
		}, func(t *testing.T, g seen) {
			expect(t, "Accept", g.Header.Get("Accept"), "")
			expect(t, "Path", g.URL.Path, "/cloned")
		}},
	}
	for _, stream := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				to, got := recorder(t)
				addr := serve(t, stream, forward(to, tc.plugin))
				res, body, _ := send(t, addr, postRequest)
				tc.check(t, receive(t, got, res, body))
			})
		}
	}
}

// lockedBuffer is a strings.Builder written by a handler's goroutine and
// read by the test's.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	l.b.Reset()
	l.mu.Unlock()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func expect[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}

// Applying twice writes the same request: a replaced body is not read
// again, a header is not added twice.
func TestApplyRequestTwiceIsIdempotent(t *testing.T) {
	ctx := benchCtx(t)
	x := Acquire(ctx)
	defer Release(x)
	r := x.Request()
	r.Header.Add("Accept", "text/plain")
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader("payload")), 7
	x.ApplyRequest()
	x.ApplyRequest()
	expect(t, "body", string(ctx.Request.Body()), "payload")
	expect(t, "Accept lines", len(ctx.Request.Header.PeekAll("Accept")), 2)
}

// What ApplyRequest wrote becomes the baseline: a later change, even one
// back to what the client sent, is written on the next ApplyRequest.
func TestApplyRequestAgainWritesChangesMadeSinceTheFirst(t *testing.T) {
	ctx := benchCtx(t)
	x := Acquire(ctx)
	defer Release(x)
	r := x.Request()
	method, path, host := r.Method, r.URL.Path, r.Host
	r.Method, r.URL.Path, r.Host = "PUT", "/changed", "changed.example"
	x.ApplyRequest()
	expect(t, "first method", string(ctx.Request.Header.Method()), "PUT")
	expect(t, "first target", string(ctx.Request.Header.RequestURI()), "/changed?v=3")
	expect(t, "first host", string(ctx.Request.Header.Host()), "changed.example")
	r.Method, r.URL.Path, r.Host = method, path, host
	x.ApplyRequest()
	expect(t, "second method", string(ctx.Request.Header.Method()), method)
	expect(t, "second target", string(ctx.Request.Header.RequestURI()), path+"?v=3")
	expect(t, "second host", string(ctx.Request.Header.Host()), host)
}

// A replacement body that fails part way is not written back: Apply*
// returns a *BodyError saying whose body failed, and fasthttp keeps the
// body it had, so nothing passes the part that was read off as whole.
func TestApplyReportsABodyThatFailsPartWay(t *testing.T) {
	failing := func() io.ReadCloser {
		return io.NopCloser(io.MultiReader(strings.NewReader("part"), iotest.ErrReader(io.ErrClosedPipe)))
	}
	ctx := benchCtx(t)
	ctx.Request.SetBodyString("client body")
	ctx.Response.SetBodyString("backend body")
	x := Acquire(ctx)
	defer Release(x)
	x.Request().Body = failing()
	x.Response().Body = failing()
	for _, c := range []struct {
		phase string
		err   error
		body  []byte
		want  string
	}{
		{"request", x.ApplyRequest(), ctx.Request.Body(), "client body"},
		{"response", x.ApplyResponse(), ctx.Response.Body(), "backend body"},
	} {
		var be *BodyError
		if !errors.As(c.err, &be) || be.Original || !errors.Is(c.err, io.ErrClosedPipe) {
			t.Errorf("%s: Apply returned %v, want a *BodyError of the plugin's body wrapping its read error", c.phase, c.err)
		}
		expect(t, c.phase+" body", string(c.body), c.want)
	}
}
