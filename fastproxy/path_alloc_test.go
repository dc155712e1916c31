//go:build !race

package fastproxy

import "testing"

// TestServeHTTPAllocatesNothingOnceWarm guards the hot path: a keep-alive
// request through routing, path mapping, hop-by-hop removal, forwarding
// headers, header rules and a pooled backend connection allocates nothing.
func TestServeHTTPAllocatesNothingOnceWarm(t *testing.T) {
	k := pathNewKeepAlive(t)
	for range 100 {
		k.do(t)
	}
	if n := testing.AllocsPerRun(200, func() { k.do(t) }); n != 0 {
		t.Errorf("%.2f allocations per request, want 0", n)
	}
}

// TestServeHTTPWildcardHostAllocatesNothing: routing by a "*." host costs
// no allocation either.
func TestServeHTTPWildcardHostAllocatesNothing(t *testing.T) {
	k := pathNewKeepAliveHost(t, "*.bench.example", "Eu.Bench.Example:8080")
	for range 100 {
		k.do(t)
	}
	if n := testing.AllocsPerRun(200, func() { k.do(t) }); n != 0 {
		t.Errorf("%.2f allocations per request, want 0", n)
	}
}

// TestRoutesMatchAllocatesNothing covers each way of choosing a service.
func TestRoutesMatchAllocatesNothing(t *testing.T) {
	r := pathBenchRoutes()
	for _, h := range pathBenchHosts {
		host := []byte(h.host)
		if n := testing.AllocsPerRun(200, func() { r.match(host) }); n != 0 {
			t.Errorf("Host %s: %.2f allocations, want 0", h.host, n)
		}
	}
}

const pathRace = false
