package fastproxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
)

// ExampleServer_Reload moves a running Server from one origin to another,
// as cmd/spillway does on SIGHUP, and shows that a change only a restart
// applies is refused with the running configuration kept.
func ExampleServer_Reload() {
	origin := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, name)
		}))
	}
	blue, green := origin("blue"), origin("green")
	defer blue.Close()
	defer green.Close()
	config := func(url string) *configs.Config {
		cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{{
			Name:      "web",
			Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: url}}}},
		}}}
		if err := cfg.Prepare(); err != nil {
			panic(err)
		}
		return cfg
	}

	srv, err := fastproxy.New(config(blue.URL), fastproxy.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	get := func() string {
		resp, err := http.Get("http://" + srv.Addrs()[0].String() + "/")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	fmt.Println("before:", get())
	fmt.Println("reload:", srv.Reload(config(green.URL)))
	fmt.Println("after:", get())

	listeners := config(blue.URL)
	listeners.Host = "127.0.0.2"
	err = srv.Reload(listeners)
	var restart *fastproxy.RestartRequired
	fmt.Println("new host refused:", errors.As(err, &restart), "- still:", get())
	// Output:
	// before: blue
	// reload: <nil>
	// after: green
	// new host refused: true - still: green
}
