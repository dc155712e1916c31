package fastproxy

import (
	"math"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// Defaults of the edge, applied where the configuration leaves a value zero.
// configs.Prepare applies the same values; repeating them here keeps a
// Config built in code (tests, the embedded demo) safe.
const (
	edgeDefaultHeader    = 10 * time.Second
	edgeDefaultRead      = 60 * time.Second
	edgeDefaultWrite     = 60 * time.Second
	edgeDefaultIdle      = 90 * time.Second
	edgeDefaultTunnel    = time.Hour
	edgeDefaultMaxHeader = 16 << 10
)

// edgeWriteSlice bounds one Write to the client, so that a large buffer written
// to a slow but steady reader re-arms the write deadline as it goes instead
// of needing the whole buffer to drain within one client_write.
const edgeWriteSlice = 64 << 10

// edgeWriteBuffer is the buffer of writes to clients.
const edgeWriteBuffer = 32 << 10

// edgeSettings are one listener's timeouts and limits with defaults applied.
// They are read by every connection of the port and never change.
type edgeSettings struct {
	header time.Duration // whole request head, from its first byte
	read   time.Duration // longest pause while reading a body
	write  time.Duration // longest pause while writing a response
	idle   time.Duration // keep-alive wait for the next request
	// tunnelIdle closes an upgraded connection nothing crossed for this long.
	tunnelIdle time.Duration

	maxHeaderBytes int
	maxBodyBytes   int64 // 0: no cap
}

// newEdgeSettings reads cfg's timeouts and limits, zero meaning default.
func newEdgeSettings(cfg *configs.Config) edgeSettings {
	t, l := cfg.Timeouts, cfg.Limits
	s := edgeSettings{
		header:         edgeOrDefault(t.ClientHeader.D(), edgeDefaultHeader),
		read:           edgeOrDefault(t.ClientRead.D(), edgeDefaultRead),
		write:          edgeOrDefault(t.ClientWrite.D(), edgeDefaultWrite),
		idle:           edgeOrDefault(t.ClientIdle.D(), edgeDefaultIdle),
		tunnelIdle:     edgeOrDefault(t.TunnelIdle.D(), edgeDefaultTunnel),
		maxHeaderBytes: l.MaxHeaderBytes,
		maxBodyBytes:   max(l.MaxBodyBytes, 0),
	}
	if s.maxHeaderBytes <= 0 {
		s.maxHeaderBytes = edgeDefaultMaxHeader
	}
	return s
}

// fasthttpBodyLimit is the value for fasthttp.Server.MaxRequestBodySize.
// fasthttp treats zero as its 4 MiB default and counts in int, so "no cap"
// must be spelled as the largest int; with StreamRequestBody fasthttp only
// uses it to bound what it pre-reads, and the edge enforces the real cap.
func (s edgeSettings) fasthttpBodyLimit() int {
	if s.maxBodyBytes == 0 || s.maxBodyBytes > math.MaxInt {
		return math.MaxInt
	}
	return int(s.maxBodyBytes)
}

func edgeOrDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
