package fastproxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// switchProtocols runs after the proxy on every request and turns a 101
// answer that carries a backend's switched connection (upgrade.go) into a
// tunnel: fasthttp is told to write nothing and to hand over the client's
// connection, the edge writes the 101 head itself and joins the two
// connections. A 101 no backend switched to (one a plugin made up) becomes
// a 502.
//
// The tunnel counts in the port's shutdown (edgeConn.holdShutdown) until
// it ends: shutdown waits for it like for a request in flight, and closes
// it when the grace period ends.
func (e *edgeHandler) switchProtocols(ctx *fasthttp.RequestCtx) {
	resp := &ctx.Response
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		return
	}
	end, switched := resp.BodyStream().(tunnelEnd)
	if !switched {
		writeError(ctx, fasthttp.StatusBadGateway, msgBadGateway)
		return
	}
	head := resp.Header.AppendBytes(nil)
	ec := edgeConnOf(ctx.Conn())
	if ec != nil && e.closing != nil {
		ec.holdShutdown(e.closing)
	}
	idle := e.set.tunnelIdle
	if ec != nil {
		idle = ec.set.tunnelIdle // the connection's, which a reload does not change
	}
	ctx.HijackSetNoResponse(true)
	tunnels := e.tunnels
	ctx.Hijack(func(c net.Conn) {
		if ec != nil {
			defer ec.releaseShutdown()
		}
		if tunnels != nil {
			tunnels.Add(1)
			defer tunnels.Add(-1)
		}
		runTunnel(c, end, head, idle)
	})
}

// tunnel is one switched connection: bytes are copied both ways until
// either side closes or fails, or nothing has crossed in either direction
// for idle (timeouts.tunnel_idle). Each side's own timeouts (client_read,
// backend_response) only wake its copy to look at the clock: a WebSocket
// whose server pushes and whose client never speaks stays open.
type tunnel struct {
	client  net.Conn // the client's connection, under fasthttp's hijack wrapper
	raw     net.Conn // the same without the wrapper, whose Close does nothing
	backend tunnelEnd
	idle    time.Duration

	last atomic.Int64 // coarseNow when bytes last crossed
	done atomic.Bool

	mu    sync.Mutex
	timer *time.Timer
}

// runTunnel writes head and what the backend sent after it to client, then
// copies both ways until the tunnel ends; both connections are closed when
// it returns.
func runTunnel(client net.Conn, backend tunnelEnd, head []byte, idle time.Duration) {
	t := &tunnel{client: client, raw: client, backend: backend, idle: idle}
	if u, ok := client.(interface{ UnsafeConn() net.Conn }); ok {
		t.raw = u.UnsafeConn()
	}
	if ec := edgeConnOf(t.raw); ec != nil {
		// Reads re-arm client_read, whatever phase fasthttp left.
		ec.beginBody()
	}
	defer t.close()
	if _, err := client.Write(append(head, backend.buffered()...)); err != nil {
		return
	}
	t.last.Store(coarseNow())
	t.mu.Lock()
	t.timer = time.AfterFunc(idle, t.checkIdle)
	t.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() {
		t.pump(backend, client)
		t.close()
	})
	t.pump(client, backend)
	t.close()
	wg.Wait()
}

// checkIdle closes the tunnel when nothing crossed it for idle, and
// otherwise looks again when that would next be so.
func (t *tunnel) checkIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done.Load() {
		return
	}
	quiet := time.Duration(coarseNow() - t.last.Load())
	if quiet >= t.idle {
		go t.close()
		return
	}
	t.timer.Reset(t.idle - quiet)
}

// close ends the tunnel once: closing both connections makes both copies
// return.
func (t *tunnel) close() {
	if !t.done.CompareAndSwap(false, true) {
		return
	}
	t.mu.Lock()
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Unlock()
	t.raw.Close()
	t.backend.Close()
}

// Copy buffers of a tunnel direction: a small one of its own, which is
// what an idle tunnel (most of them, most of the time) waits with, and a
// pooled large one while reads keep filling the small one. 16 KiB is one
// TLS record, so a large message moves in few system calls.
const (
	tunnelSmallBuf = 2 << 10
	tunnelLargeBuf = 16 << 10
)

var tunnelBufs = sync.Pool{New: func() any { b := make([]byte, tunnelLargeBuf); return &b }}

// pump copies src to dst until either fails or the tunnel is closed. A
// read that timed out is retried: checkIdle decides when the tunnel is
// idle, the side's deadline only bounds each wait.
func (t *tunnel) pump(dst io.Writer, src io.Reader) {
	small := make([]byte, tunnelSmallBuf)
	buf := small
	var large *[]byte
	defer func() {
		if large != nil {
			tunnelBufs.Put(large)
		}
	}()
	for {
		n, err := src.Read(buf)
		if n > 0 {
			t.last.Store(coarseNow())
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil && (!isTimeout(err) || t.done.Load()) {
			return
		}
		switch {
		case large == nil && n == len(buf):
			large = tunnelBufs.Get().(*[]byte)
			buf = *large
		case large != nil && n < tunnelSmallBuf:
			tunnelBufs.Put(large)
			large, buf = nil, small
		}
	}
}
