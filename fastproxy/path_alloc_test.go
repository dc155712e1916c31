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

const pathRace = false
