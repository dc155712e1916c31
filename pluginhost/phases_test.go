package pluginhost

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// phased is a plugin that sets a header in each phase it runs in and
// records the calls.
type phased struct {
	name string
	mu   sync.Mutex
	ran  []string
}

func (p *phased) Name() string   { return p.name }
func (p *phased) Priority() int  { return 0 }
func (p *phased) Cleanup() error { return nil }
func (p *phased) ProcessRequest(_ context.Context, r *http.Request) *plugin.Result {
	p.record("request")
	r.Header.Set("X-Req-"+p.name, "1")
	return plugin.ResultContinue
}
func (p *phased) ProcessResponse(_ context.Context, r *http.Response) *plugin.Result {
	p.record("response")
	r.Header.Set("X-Resp-"+p.name, "1")
	return plugin.ResultContinue
}
func (p *phased) record(s string) {
	p.mu.Lock()
	p.ran = append(p.ran, s)
	p.mu.Unlock()
}

// chooser is a phased plugin that declares its phases.
type chooser struct {
	*phased
	phases plugin.Phase
}

func (c chooser) Phases() plugin.Phase { return c.phases }

// TestPluginsRunOnlyInThePhasesTheyChoose: a plugin declaring its phases
// (plugin.PhaseChooser) is called only in those, and a phase no plugin
// takes part in converts nothing to net/http.
func TestPluginsRunOnlyInThePhasesTheyChoose(t *testing.T) {
	req, resp := plugin.RequestPhase, plugin.ResponsePhase
	tests := []struct {
		desc    string
		phases  []plugin.Phase // 0: no Phases method
		ran     [][]string     // per plugin
		reqConv bool           // the request phase converted the request
		resConv bool
	}{
		{"no declaration runs both", []plugin.Phase{0}, [][]string{{"request", "response"}}, true, true},
		{"request only", []plugin.Phase{req}, [][]string{{"request"}}, true, false},
		{"response only", []plugin.Phase{resp}, [][]string{{"response"}}, false, true},
		{"one of each", []plugin.Phase{req, resp}, [][]string{{"request"}, {"response"}}, true, true},
		{"both declared", []plugin.Phase{req | resp}, [][]string{{"request", "response"}}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var hs []plugin.Handler
			var ps []*phased
			for i, ph := range tc.phases {
				p := &phased{name: string(rune('a' + i))}
				ps = append(ps, p)
				if ph == 0 {
					hs = append(hs, p)
				} else {
					hs = append(hs, chooser{p, ph})
				}
			}
			h, err := New(hs, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(t.Context())
			ctx := phasesCtx()
			x, answered := h.Request(ctx)
			if answered || x == nil {
				t.Fatalf("Request answered %v, exchange %v", answered, x)
			}
			reqConv := x.(*exchange).ax.RequestConverted()
			x.Response(ctx)
			resConv := x.(*exchange).ax.ResponseConverted()
			x.Release()
			if reqConv != tc.reqConv || resConv != tc.resConv {
				t.Errorf("converted request %v, response %v; want %v, %v", reqConv, resConv, tc.reqConv, tc.resConv)
			}
			for i, p := range ps {
				if !slices.Equal(p.ran, tc.ran[i]) {
					t.Errorf("plugin %s ran %v, want %v", p.name, p.ran, tc.ran[i])
				}
				inReq := len(ctx.Request.Header.Peek("X-Req-"+p.name)) > 0
				inResp := len(ctx.Response.Header.Peek("X-Resp-"+p.name)) > 0
				if inReq != slices.Contains(tc.ran[i], "request") || inResp != slices.Contains(tc.ran[i], "response") {
					t.Errorf("plugin %s: header written back to request %v, response %v", p.name, inReq, inResp)
				}
			}
		})
	}
}

// phasesCtx is a request with the backend's answer already in place, as
// the proxy hands it to the host.
func phasesCtx() *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI("http://shop.example/items?page=2")
	req.Header.Set("Accept", "text/html")
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	ctx.Response.Header.SetContentType("text/html")
	ctx.Response.SetBodyString("<p>items</p>")
	return ctx
}
