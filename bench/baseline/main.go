// Command baseline serves bench.NewBaseline — net/http with
// httputil.ReverseProxy, the way Terraster proxies — so bench/loadtest.sh
// can measure it on one core beside Spillway. It runs until killed.
//
//	baseline -addr 127.0.0.1:18482 -backend http://127.0.0.1:18481 [-plugin]
package main

import (
	"flag"
	"log"
	"net/http"
	"net/url"
	"time"

	"github.com/spillway-lb/spillway/bench"
	"github.com/spillway-lb/spillway/pluginhost/examples/addheader/headerplugin"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18482", "address to listen on")
	backend := flag.String("backend", "http://127.0.0.1:18481", "backend URL")
	withPlugin := flag.Bool("plugin", false, "run the add-header plugin's two phases on net/http types")
	flag.Parse()
	u, err := url.Parse(*backend)
	if err != nil {
		log.Fatal(err)
	}
	var h plugin.Handler
	if *withPlugin {
		h = headerplugin.New()
	}
	// Tuned as for production, like the benchmarks' baseline: an idle
	// connection per client connection, no transparent gzip.
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	srv := &http.Server{Addr: *addr, Handler: bench.NewBaseline([]*url.URL{u}, tr, h), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("baseline listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}
