package bench

import (
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestHarnessServesEveryCase checks the benchmarks measure what they claim:
// through every proxy, every setup answers every case with the origin's
// exact status and body, and plugin setups apply their header in both
// phases (the origin sees the request header, the client the response one).
func TestHarnessServesEveryCase(t *testing.T) {
	for _, p := range proxies {
		for _, s := range setups() {
			if !p.covers(s) {
				continue
			}
			t.Run(p.name+"/"+s.name, func(t *testing.T) {
				tg := p.start(t, s, startOrigins(t, s.origins))
				client := newClient(tg.addr)
				defer client.CloseIdleConnections()
				req := fasthttp.AcquireRequest()
				defer fasthttp.ReleaseRequest(req)
				resp := fasthttp.AcquireResponse()
				defer fasthttp.ReleaseResponse(resp)
				for _, c := range s.cases {
					// Twice: the second request reuses the keep-alive
					// connections on both sides of the proxy.
					for range 2 {
						req.Reset()
						c.prepare(req, tg)
						if err := client.Do(req, resp); err != nil {
							t.Fatalf("%s %s: %v", c.method, c.path, err)
						}
						if msg := c.check(resp, true); msg != "" {
							t.Fatalf("%s %s: %s", c.method, c.path, msg)
						}
					}
				}
				if s.plugin != noPlugin {
					checkPluginPhases(t, client, tg)
				}
				if s.routes {
					checkRoutingMisses(t, client, tg)
				}
			})
		}
	}
}

// checkPluginPhases asks the origin to echo its request headers and checks
// the plugin's headers went both ways.
func checkPluginPhases(t *testing.T, client *fasthttp.HostClient, tg target) {
	t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + tg.host + tg.prefix + "/headers")
	if err := client.Do(req, resp); err != nil {
		t.Fatalf("GET /headers: %v", err)
	}
	line := []byte(pluginRequestHeader + ": " + pluginHeaderValue + "\r\n")
	if !bytes.Contains(resp.Body(), line) {
		t.Errorf("origin did not get %q from the request phase; it got:\n%s", line, resp.Body())
	}
	if got := string(resp.Header.Peek(pluginResponseHeader)); got != pluginHeaderValue {
		t.Errorf("response header %s = %q, want %q from the response phase", pluginResponseHeader, got, pluginHeaderValue)
	}
}

// checkRoutingMisses checks the routes setup really routes: Origin answers
// by the last path segment whatever the prefix, so a hit alone would not
// show that the Host and prefix were matched. A host or prefix outside the
// table must not reach the origin.
func checkRoutingMisses(t *testing.T, client *fasthttp.HostClient, tg target) {
	t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for _, uri := range []string{
		"http://unknown.bench.test" + tg.prefix + "/small",
		"http://" + tg.host + "/elsewhere/small",
	} {
		req.SetRequestURI(uri)
		if err := client.Do(req, resp); err != nil {
			t.Fatalf("GET %s: %v", uri, err)
		}
		if resp.StatusCode() == fasthttp.StatusOK || len(resp.Header.Peek("X-Origin")) != 0 {
			t.Errorf("GET %s reached the origin (status %d); want no route", uri, resp.StatusCode())
		}
	}
}
