package adapter

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// The pooled Header maps are not cleared on Release (see build.sweep): a
// plugin must still see exactly its own request's and response's keys,
// whatever the exchange before it carried, added, deleted or failed to
// write back.
func TestReusedHeaderMapsHoldOnlyThisExchangesKeys(t *testing.T) {
	cases := []reuseCase{
		{"/many", "A: 1\r\nB: 2\r\nC: 3\r\n", func(r *http.Request, resp *http.Response) {
			r.Header.Set("X-Plugin", "1")
			resp.Header.Set("X-Plugin-Resp", "1")
		}, true},
		{"/other", "A: 1\r\nD: 4\r\n", func(r *http.Request, resp *http.Response) {
			r.Header.Set("X-Not-Applied", "1")
			resp.Header.Set("X-Not-Applied-Resp", "1")
		}, false},
		{"/deleted", "B: 2\r\nC: 3\r\n", func(r *http.Request, resp *http.Response) {
			r.Header.Del("B")
			resp.Header.Del("E")
		}, true},
		{"/replaced", "A: 1\r\n", func(r *http.Request, resp *http.Response) {
			r.Header = http.Header{"Z": {"26"}}
		}, true},
		{"/same", "A: 1\r\nB: 2\r\nC: 3\r\n", func(*http.Request, *http.Response) {}, true},
		{"/none", "", func(*http.Request, *http.Response) {}, true},
	}
	type seen struct{ req, resp []string }
	got := make(chan seen, 1)
	addr := serve(t, false, func(ctx *fasthttp.RequestCtx) {
		x := Acquire(ctx)
		defer Release(x)
		c := cases[slices.IndexFunc(cases, func(c reuseCase) bool { return c.path == string(ctx.Path()) })]
		ctx.Response.Header.Set("E", "5")
		if c.path == "/many" {
			ctx.Response.Header.Set("F", "6")
		}
		r, resp := x.Request(), x.Response()
		got <- seen{keys(r.Header), keys(resp.Header)}
		c.plugin(r, resp)
		if c.apply {
			x.ApplyRequest()
			x.ApplyResponse()
		}
	})
	for range 3 { // the pool hands the same Exchange back most of the time
		for _, c := range cases {
			send(t, addr, "GET "+c.path+" HTTP/1.1\r\nHost: a\r\n"+c.headers+"\r\n")
			g := <-got
			wantReq := keys(parseLines(c.headers))
			wantResp := []string{"E"}
			if c.path == "/many" {
				wantResp = []string{"E", "F"}
			}
			if !slices.Equal(g.req, wantReq) || !slices.Equal(g.resp, wantResp) {
				t.Errorf("%s: request keys %v, response keys %v; want %v and %v",
					c.path, g.req, g.resp, wantReq, wantResp)
			}
		}
	}
}

type reuseCase struct {
	path    string
	headers string // request header lines after Host
	plugin  func(r *http.Request, resp *http.Response)
	apply   bool // false: the plugin stopped the request (no write-back)
}

func keys(h http.Header) []string {
	var ks []string
	for k := range h {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func parseLines(lines string) http.Header {
	h := http.Header{}
	for l := range strings.SplitSeq(strings.TrimSpace(lines), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			h.Add(k, strings.TrimSpace(v))
		}
	}
	return h
}
