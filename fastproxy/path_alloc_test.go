//go:build !race

package fastproxy

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/accesslog"
)

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

// TestServeHTTPRepeatedForwardedForAllocatesNothing: joining several
// X-Forwarded-For lines into one, and reading the client from all of them
// behind a trusted proxy, costs no allocation.
func TestServeHTTPRepeatedForwardedForAllocatesNothing(t *testing.T) {
	for _, trusted := range [][]string{nil, {"127.0.0.0/8"}} {
		t.Run(fmt.Sprint("trusted_proxies=", trusted), func(t *testing.T) {
			k := pathNewKeepAliveWith(t, "bench.example", "bench.example", func(c *configs.Config) { c.TrustedProxies = trusted })
			k.req.Header.Add("X-Forwarded-For", "198.51.100.1, 10.0.0.1")
			k.req.Header.Add("X-Forwarded-For", "192.0.2.44")
			for range 100 {
				k.do(t)
			}
			if n := testing.AllocsPerRun(200, func() { k.do(t) }); n != 0 {
				t.Errorf("%.2f allocations per request, want 0", n)
			}
		})
	}
}

// TestAccessLogAllocatesNothing: with the access log on, a request and its
// line cost no allocation either.
func TestAccessLogAllocatesNothing(t *testing.T) {
	l, err := accesslog.Open(filepath.Join(t.TempDir(), "access.log"), accesslog.FormatCombined, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	k := pathNewKeepAliveOpts(t, "bench.example", "bench.example", nil, Options{AccessLog: l})
	for range 1000 { // the log's two batch buffers grow
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
