package bench_test

import (
	"fmt"
	"net"

	"github.com/spillway-lb/spillway/bench"
	"github.com/valyala/fasthttp"
)

// ExampleOrigin serves Origin on a loopback port and asks it for the small
// case through a location prefix, as a proxy in front of it would.
func ExampleOrigin() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &fasthttp.Server{Handler: bench.Origin}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	defer srv.Shutdown()

	status, body, err := fasthttp.Get(nil, "http://"+ln.Addr().String()+"/api/v1/small")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d %q\n", status, body)
	// Output: 200 "hello world\n"
}
