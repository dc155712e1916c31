// Package fastproxy is Spillway's hot path: the fasthttp server, routing by
// Host and path, and forwarding to backends over pooled keep-alive
// connections.
//
// A request is handled top to bottom by proxy.ServeHTTP (proxy.go), in
// httputil.ReverseProxy's order; routing is in route.go, one forwarding
// attempt and the backend connections in forward.go and stream.go, retries
// in retry.go. The edge around it — listeners, strict HTTP/1.1 framing
// (framing.go), progress-based client timeouts (conn_deadline.go), panic
// recovery and shutdown — is in server.go and edge_handler.go; protocol
// upgrades (WebSocket) in upgrade.go and, once switched, tunnel.go; what
// the access log and the metrics get in edge_access.go, and the metrics'
// scrape (the slow path) in server_metrics.go; swapping in a reloaded
// configuration (also the slow path) in reload.go. With no plugin loaded, a
// request allocates nothing once warm.
package fastproxy
