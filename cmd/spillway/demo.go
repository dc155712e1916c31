package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// demoOrigins are the loopback origins the embedded demo config points at
// (configs/demo.yaml).
var demoOrigins = []string{"127.0.0.1:18081", "127.0.0.1:18082"}

// startDemoOrigins serves two tiny origins that say who they are and what
// they were asked, so a curl through the demo shows balancing, path
// rewriting and the headers the proxy added.
func startDemoOrigins(log *slog.Logger) (stop func(), err error) {
	var servers []*fasthttp.Server
	stop = func() {
		for _, s := range servers {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.ShutdownWithContext(ctx)
			cancel()
		}
	}
	for i, addr := range demoOrigins {
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			stop()
			return nil, fmt.Errorf("demo origin %s: %w (is another demo running?)", addr, err)
		}
		name := fmt.Sprintf("origin-%d", i+1)
		s := &fasthttp.Server{Handler: demoHandler(name), Name: name, NoDefaultServerHeader: true}
		servers = append(servers, s)
		go func() {
			if err := s.Serve(ln); err != nil {
				log.Error("demo origin stopped", "addr", addr, "err", err)
			}
		}()
		log.Info("demo origin", "name", name, "addr", addr)
	}
	return stop, nil
}

func demoHandler(name string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain; charset=utf-8")
		fmt.Fprintf(ctx, "hello from %s\nmethod: %s\npath: %s\n", name, ctx.Method(), ctx.RequestURI())
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"} {
			if v := ctx.Request.Header.Peek(h); len(v) > 0 {
				fmt.Fprintf(ctx, "%s: %s\n", h, v)
			}
		}
		for k, v := range ctx.Request.Header.All() {
			if len(k) > 2 && (k[0] == 'X' || k[0] == 'x') && k[1] == '-' && !isForwarded(k) {
				fmt.Fprintf(ctx, "%s: %s\n", k, v)
			}
		}
	}
}

func isForwarded(k []byte) bool {
	return len(k) > 12 && string(k[:12]) == "X-Forwarded-"
}
