// Package fastproxy is Spillway's hot path: the fasthttp server, routing by
// Host and path, and forwarding to backends over pooled keep-alive
// connections.
//
// A request is handled top to bottom by proxy.ServeHTTP (proxy.go); the
// listeners, timeouts, strict HTTP/1.1 framing and shutdown live in
// server.go. Per-request work allocates nothing once warm when no plugin is
// loaded.
package fastproxy
