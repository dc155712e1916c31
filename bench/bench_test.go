package bench

import (
	"strconv"
	"strings"
	"testing"

	"github.com/spillway-lb/spillway/configs"
)

// BenchmarkSpillway runs every setup through Spillway's fastproxy.
func BenchmarkSpillway(b *testing.B) { benchmarkProxy(b, spillwayProxy) }

// BenchmarkBaseline runs every setup that net/http can express through
// httputil.ReverseProxy, with plugins as plain net/http code.
func BenchmarkBaseline(b *testing.B) { benchmarkProxy(b, baselineProxy) }

// proxies are the implementations the harness test checks.
var proxies = []proxyUnderTest{spillwayProxy, baselineProxy}

// proxyUnderTest starts one proxy implementation for a setup. start may
// skip tb when the setup cannot run here (a plugin that is not built).
type proxyUnderTest struct {
	name  string
	start func(tb testing.TB, s setup, origins []string) target
	// covers reports whether the proxy has an equivalent of s.
	covers func(s setup) bool
}

// benchmarkProxy runs p's setups as setup=…/case=… sub-benchmarks. Each
// setup starts its origins and proxy once and shares them among its cases.
func benchmarkProxy(b *testing.B, p proxyUnderTest) {
	for _, s := range setups() {
		if !p.covers(s) {
			continue
		}
		b.Run("setup="+s.name, func(b *testing.B) {
			t := p.start(b, s, startOrigins(b, s.origins))
			for _, c := range s.cases {
				b.Run("case="+c.name, func(b *testing.B) { runLoad(b, t, c) })
			}
		})
	}
}

// postBody is the request body of the post64k case.
var postBody = fill(64 << 10)

// benchCase is one request shape, sent the same way to every proxy.
type benchCase struct {
	name   string // the case=… part of the benchmark name
	method string
	path   string // served by Origin through any location prefix
	body   []byte // request body; nil for GET
	want   []byte // expected response body
}

var (
	caseSmall  = benchCase{name: "small", method: "GET", path: "/small", want: smallBody}
	case16K    = benchCase{name: "16k", method: "GET", path: "/16k", want: mediumBody}
	case1M     = benchCase{name: "1m", method: "GET", path: "/1m", want: largeBody}
	casePost   = benchCase{name: "post64k", method: "POST", path: "/post", body: postBody, want: []byte(strconv.Itoa(len(postBody)))}
	everyCase  = []benchCase{caseSmall, case16K, case1M, casePost}
	onlySmall  = []benchCase{caseSmall}
	routeCount = [2]int{16, 8} // services × locations of the routes setup
)

// pluginMode says which plugin, if any, runs in both phases.
type pluginMode int

const (
	noPlugin     pluginMode = iota
	inProcPlugin            // headerplugin, linked into the test binary
	soPlugin                // plugins/addheader.so, loaded with the plugin package
)

// setup is one arrangement of origins and proxy configuration; every proxy
// under test builds its own equivalent of it.
type setup struct {
	name     string // the setup=… part of the benchmark name
	origins  int    // how many origins the proxy balances over
	policy   string // balancer policy (Spillway only); "" is round-robin
	plugin   pluginMode
	routes   bool // many services and locations instead of one catch-all
	cases    []benchCase
	baseline bool // whether BenchmarkBaseline has an equivalent
}

// setups lists every benchmarked arrangement, in the order they run.
func setups() []setup {
	s := []setup{
		{name: "plain", origins: 1, cases: everyCase, baseline: true},
		{name: "plugin", origins: 1, plugin: inProcPlugin, cases: everyCase, baseline: true},
		{name: "plugin-so", origins: 1, plugin: soPlugin, cases: everyCase, baseline: true},
		{name: "routes", origins: 1, routes: true, cases: onlySmall, baseline: true},
		// net/http has no balancer; round-robin over the same origins is
		// the fair counterpart of the default policy.
		{name: "lb-round-robin", origins: 3, policy: "round-robin", cases: onlySmall, baseline: true},
	}
	for _, p := range policies() {
		if p != "round-robin" {
			s = append(s, setup{name: "lb-" + p, origins: 3, policy: p, cases: onlySmall})
		}
	}
	return s
}

// target is where a client sends a setup's requests: the proxy's address
// and the Host header and path prefix that select the intended route.
type target struct {
	addr   string
	host   string
	prefix string
}

// routeTarget returns the Host and path prefix of the routes setup: the
// last location of the last service, so a linear router pays in full.
func routeTarget() (host, prefix string) {
	return routeHost(routeCount[0] - 1), routePath(routeCount[1] - 1)
}

func routeHost(i int) string { return "svc" + strconv.Itoa(i) + ".bench.test" }
func routePath(j int) string { return "/api/v" + strconv.Itoa(j) }

// policies returns the balancer policy names in their canonical form.
func policies() []string {
	out := make([]string, len(configs.Policies))
	for i, p := range configs.Policies {
		out[i] = strings.ReplaceAll(p, "_", "-")
	}
	return out
}
