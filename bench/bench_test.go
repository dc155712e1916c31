package bench

import (
	"strings"
	"testing"

	"github.com/spillway-lb/spillway/configs"
)

// proxyUnderTest starts one proxy implementation for a setup. start may
// skip tb when the setup cannot run here (a plugin that is not built).
type proxyUnderTest struct {
	name  string
	start func(tb testing.TB, s setup, origins []string) target
	// covers reports whether the proxy has an equivalent of s.
	covers func(s setup) bool
}

var baselineProxy = proxyUnderTest{
	name: "baseline",
	start: func(tb testing.TB, s setup, origins []string) target {
		return startBaseline(tb, s, origins, baselineHooks(tb, s.plugin))
	},
	covers: func(s setup) bool { return s.baseline },
}

// BenchmarkBaseline runs every setup that net/http can express through
// httputil.ReverseProxy, with plugins as plain net/http code.
func BenchmarkBaseline(b *testing.B) { benchmarkProxy(b, baselineProxy) }

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

// policies returns the balancer policy names in their canonical form.
func policies() []string {
	out := make([]string, len(configs.Policies))
	for i, p := range configs.Policies {
		out[i] = strings.ReplaceAll(p, "_", "-")
	}
	return out
}

// proxies are the implementations the harness test checks.
var proxies = []proxyUnderTest{spillwayProxy, baselineProxy}
