package fastproxy

import (
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// pathPlugins is a fake Plugins recording what each phase saw.
type pathPlugins struct {
	mu     sync.Mutex
	events []string
	answer bool
}

func (pp *pathPlugins) record(e string) {
	pp.mu.Lock()
	pp.events = append(pp.events, e)
	pp.mu.Unlock()
}

func (pp *pathPlugins) Request(ctx *fasthttp.RequestCtx) (Exchange, bool) {
	h := &ctx.Request.Header
	pp.record("request secret=" + string(h.Peek("X-Secret")) + " xff=" + string(h.Peek("X-Forwarded-For")))
	h.Set("X-Plugin", "on")
	if pp.answer {
		ctx.Response.SetStatusCode(http.StatusTeapot)
		ctx.Response.SetBodyString("from plugin")
	}
	return &pathExchange{pp}, pp.answer
}

type pathExchange struct{ pp *pathPlugins }

func (x *pathExchange) Response(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	x.pp.record("response keepalive=" + string(h.Peek("Keep-Alive")) + " rule=" + string(h.Peek("X-Rule")))
	h.Set("X-Plugin-Response", "on")
}

func (x *pathExchange) Release() { x.pp.record("release") }

func TestPluginHooksRunInOrder(t *testing.T) {
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Origin-Saw-Plugin", r.Header.Get("X-Plugin"))
	})
	tests := []struct {
		desc       string
		backend    string
		answer     bool
		disabled   bool
		wantStatus int
		wantEvents []string
	}{
		{"forwarded", o.URL, false, false, 200, []string{
			"request secret= xff=", "response keepalive= rule=set", "release"}},
		{"answered by a plugin", o.URL, true, false, http.StatusTeapot, []string{
			"request secret= xff=", "release"}},
		{"backend error still releases", pathClosedURL(t), false, false, 502, []string{
			"request secret= xff=", "release"}},
		{"plugin_disabled service", o.URL, false, true, 200, nil},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			pp := &pathPlugins{answer: tc.answer}
			svc := pathService("", pathLoc("/", tc.backend))
			svc.PluginDisabled = tc.disabled
			svc.Headers = &configs.Headers{ResponseHeaders: map[string]string{"X-Rule": "set"}}
			px := pathStartProxy(t, &configs.Config{Services: []configs.Service{svc}}, Options{Plugins: pp})
			resp, _ := pathDo(t, px, "GET", "h", "/", nil, map[string]string{
				"Connection": "X-Secret", "X-Secret": "s"})
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			pp.mu.Lock()
			defer pp.mu.Unlock()
			if !reflect.DeepEqual(pp.events, tc.wantEvents) {
				t.Errorf("events\n %s\nwant\n %s", strings.Join(pp.events, "\n "), strings.Join(tc.wantEvents, "\n "))
			}
			if tc.wantStatus == 200 && !tc.disabled {
				if resp.Header.Get("X-Origin-Saw-Plugin") != "on" || resp.Header.Get("X-Plugin-Response") != "on" {
					t.Errorf("plugin changes lost: %v", resp.Header)
				}
			}
		})
	}
}
