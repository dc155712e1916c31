package bench

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

var baselineProxy = proxyUnderTest{
	name: "baseline",
	start: func(tb testing.TB, s setup, origins []string) target {
		return startBaseline(tb, s, origins, baselineHandler(tb, s.plugin))
	},
	covers: func(s setup) bool { return s.baseline },
}

// startBaseline serves s with net/http and httputil.ReverseProxy in front
// of origins until tb ends, and returns where to send requests.
//
// It is tuned as one would tune it for production so the comparison is
// fair: idle connections per backend for every client connection, pooled
// copy buffers, no transparent gzip, and no per-request logging.
func startBaseline(tb testing.TB, s setup, origins []string, h plugin.Handler) target {
	tb.Helper()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4 * conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	urls := make([]*url.URL, len(origins))
	for i, o := range origins {
		urls[i] = &url.URL{Scheme: "http", Host: o}
	}
	var handler http.Handler = NewBaseline(urls, tr, h)
	t := target{host: "bench.test"}
	if s.routes {
		// Every service and location gets its own proxy, as a net/http
		// program routing by host and path prefix would have.
		mux := http.NewServeMux()
		for i := range routeCount[0] {
			for j := range routeCount[1] {
				mux.Handle(routeHost(i)+routePath(j)+"/", NewBaseline(urls, tr, h))
			}
		}
		handler = mux
		t.host, t.prefix = routeTarget()
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("baseline listen: %v", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	tb.Cleanup(func() {
		_ = srv.Close()
		tr.CloseIdleConnections()
	})
	t.addr = ln.Addr().String()
	return t
}
