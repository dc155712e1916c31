package fastproxy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
)

// ExampleNew runs Spillway in-process in front of one origin: build the
// Server from a prepared configuration, Start it, send it a request, and
// shut it down within a grace period, as cmd/spillway does on SIGTERM.
func ExampleNew() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the origin, path %s", r.URL.Path)
	}))
	defer origin.Close()

	cfg := &configs.Config{
		Host: "127.0.0.1", // port 0 below: an ephemeral port, read back with Addrs
		Services: []configs.Service{{
			Name:      "web",
			Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: origin.URL}}}},
		}},
	}
	if err := cfg.Prepare(); err != nil {
		fmt.Println(err)
		return
	}
	srv, err := fastproxy.New(cfg, fastproxy.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}

	resp, err := http.Get("http://" + srv.Addrs()[0].String() + "/greeting")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(ctx))
	// Output:
	// 200 hello from the origin, path /greeting
	// shutdown: <nil>
}
