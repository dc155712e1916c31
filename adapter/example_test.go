package adapter_test

import (
	"fmt"
	"net"

	"github.com/spillway-lb/spillway/adapter"
	"github.com/valyala/fasthttp"
)

// A plugin host runs a net/http-style plugin on a fasthttp request: it
// converts the request, lets the plugin change it, and writes the changes
// back before forwarding.
func Example() {
	var req fasthttp.Request
	req.SetRequestURI("/api/items?page=2")
	req.Header.SetHost("shop.example")
	req.Header.Add("Accept", "application/json")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}, nil)

	x := adapter.Acquire(&ctx)
	defer adapter.Release(x)

	r := x.Request() // converted here, on first use
	fmt.Println(r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.RemoteAddr)

	// What a plugin might do.
	r.Header.Set("X-Tenant", "acme")
	r.URL.Path = "/v2" + r.URL.Path

	x.ApplyRequest()
	fmt.Println(string(ctx.Request.RequestURI()), string(ctx.Request.Header.Peek("X-Tenant")))
	// Output:
	// GET /api/items page=2 shop.example 192.0.2.1:40000
	// /v2/api/items?page=2 acme
}
