package fastproxy

import (
	"net"
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

func TestMiddlewareRunsWithTheRealClientAddress(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	svc := pathService("", pathLoc("/", o.URL))
	svc.Middleware = []configs.Middleware{{RateLimit: &configs.RateLimit{RequestsPerSecond: 0.01, Burst: 1}}}
	px := pathStartProxy(t, &configs.Config{TrustedProxies: []string{"127.0.0.0/8"},
		Services: []configs.Service{svc}}, Options{})
	tests := []struct {
		desc, client string
		want         int
	}{
		{"first request of a client", "198.51.100.1", 200},
		{"same client again is limited", "198.51.100.1", http.StatusTooManyRequests},
		{"another client behind the same proxy", "198.51.100.2", 200},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			resp, _ := pathDo(t, px, "GET", "h", "/", nil, map[string]string{"X-Forwarded-For": tc.client})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestBalancerGetsTheRealClientAddress(t *testing.T) {
	a, b := pathEchoOrigin(t, "a"), pathEchoOrigin(t, "b")
	loc := pathLoc("/", a.URL, b.URL)
	loc.LBPolicy = "ip-hash"
	px := pathStartProxy(t, &configs.Config{TrustedProxies: []string{"127.0.0.0/8"},
		Services: []configs.Service{pathService("", loc)}}, Options{})
	first := map[string]string{}
	for round := range 2 {
		for i := range 16 {
			client := net.IPv4(198, 51, 100, byte(i+1)).String()
			_, body := pathDo(t, px, "GET", "h", "/", nil, map[string]string{"X-Forwarded-For": client})
			got := pathSeenBy(t, body).Origin
			if round == 0 {
				first[client] = got
			} else if first[client] != got {
				t.Errorf("client %s moved from %s to %s", client, first[client], got)
			}
		}
	}
	if a.Hits.Load() == 0 || b.Hits.Load() == 0 {
		t.Errorf("hits a=%d b=%d: the hash did not see distinct clients", a.Hits.Load(), b.Hits.Load())
	}
}

// TestMiddlewareHeadersOnEveryAnswer: security and CORS headers go on the
// answers the proxy writes itself — a plugin's answer and a 502 — as on a
// backend's, so a browser script can read them.
func TestMiddlewareHeadersOnEveryAnswer(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	tests := []struct {
		desc       string
		backend    string
		answer     bool
		wantStatus int
	}{
		{"backend answer", o.URL, false, 200},
		{"plugin answer", o.URL, true, http.StatusTeapot},
		{"backend down", pathClosedURL(t), false, http.StatusBadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			svc := pathService("", pathLoc("/", tc.backend))
			svc.Middleware = []configs.Middleware{
				{Security: &configs.Security{ContentTypeOptions: true, FrameOptions: "DENY"}},
				{CORS: &configs.CORS{AllowedOrigins: []string{"https://app.test"}}},
			}
			px := pathStartProxy(t, &configs.Config{Services: []configs.Service{svc}},
				Options{Plugins: &pathPlugins{answer: tc.answer}})
			resp, _ := pathDo(t, px, "GET", "h", "/", nil, map[string]string{"Origin": "https://app.test"})
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			for k, want := range map[string]string{
				"X-Content-Type-Options":      "nosniff",
				"X-Frame-Options":             "DENY",
				"Access-Control-Allow-Origin": "https://app.test",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
		})
	}
}
