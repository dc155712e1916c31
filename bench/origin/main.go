// Command origin serves bench.Origin on one address, as the backend of
// bench/loadtest.sh. It runs until killed.
//
//	origin -addr 127.0.0.1:18081
package main

import (
	"flag"
	"log"

	"github.com/spillway-lb/spillway/bench"
	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "address to listen on")
	flag.Parse()
	// Configured like the benchmarks' origins (startOrigins), so wrk and
	// go test measure Spillway in front of the same backend.
	srv := &fasthttp.Server{Handler: bench.Origin, NoDefaultServerHeader: true}
	log.Printf("origin listening on %s", *addr)
	log.Fatal(srv.ListenAndServe(*addr))
}
