package fastproxy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
)

// Example_requestPath routes by Host and path prefix: the location's prefix
// is replaced by the backend URL's own path, the query is kept as sent, and
// the backend sees the client's Host and an X-Forwarded-For.
func Example_requestPath() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s host=%s xff=%s", r.RequestURI, r.Host, r.Header.Get("X-Forwarded-For"))
	})}
	go origin.Serve(ln)
	defer origin.Close()

	cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{{
		Name: "api", Host: "api.example",
		Locations: []configs.Location{{
			Path:     "/api/",
			Backends: []configs.Backend{{URL: "http://" + ln.Addr().String() + "/v2"}},
		}},
	}}}
	srv, err := fastproxy.New(cfg, fastproxy.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())

	req, _ := http.NewRequest("GET", "http://"+srv.Addrs()[0].String()+"/api/users?id=7&sort=%20name", nil)
	req.Host = "API.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: /v2/users?id=7&sort=%20name host=API.example xff=127.0.0.1
}
