package fastproxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Phases of a client connection, which decide the read deadline. fasthttp's
// own ReadTimeout and WriteTimeout bound whole operations and would cut a
// long upload or download that is still moving, so the edge leaves them
// zero and arms deadlines here instead:
//
//   - edgePhaseHead: a request head is being read. The deadline is fixed when
//     the head starts (at accept for a new connection, at the first byte on
//     a kept-alive one, unless that read brought the whole head) and is not
//     extended by progress, so a client that dribbles its head is cut off
//     after client_header.
//   - edgePhaseBody: the head is complete (the connection saw the blank line
//     that ends it, or the handler started). Every Read re-arms
//     client_read, so only a pause that long cuts the body.
//   - edgePhaseIdle: the response is written (fasthttp's StateIdle) and the
//     connection waits for the next request for at most client_idle.
//
// Writes re-arm client_write before every slice of at most edgeWriteSlice
// bytes, whatever the phase. Re-arming goes through connDeadline
// (conn_clock.go), which skips deadlines that are still good. The wrapper sits above TLS so that it sees
// the plaintext; TLS handshakes run under the head deadline.
const (
	edgePhaseHead = iota
	edgePhaseBody
	edgePhaseIdle
)

// headEnd is the blank line that ends a head, a request's or a
// response's (RFC 9112 section 2.1).
var headEnd = []byte("\r\n\r\n")

// bareLFWindow reports whether the last bytes read, w's low bytes with the
// latest lowest, end a head with a bare LF.
func bareLFWindow(w uint32) bool {
	return w&0xffff == '\n'<<8|'\n' || w&0xffffff == '\n'<<16|'\r'<<8|'\n' && w>>24 != '\r'
}

// edgeConn is an accepted client connection with progress-based deadlines.
//
// Reads and the phase are touched only by the goroutine serving the
// connection (and by whoever it hands the request body to while it waits),
// so they need no lock. Close may be called from any goroutine. An edgeConn
// must not be copied.
type edgeConn struct {
	net.Conn
	set *edgeSettings
	reg *edgeConnRegistry

	phase int
	match int    // bytes of headEnd matched at the end of what was read so far
	last  uint32 // the last four bytes of the head read so far, for scanBareLFEnd
	// lineEnded: the current head's request line has ended (an LF came),
	// so a head over the read buffer is 431, not 414 (edgeErrorStatus).
	lineEnded bool
	rd, wd    connDeadline
	// batch, on TLS connections, gathers the records of one write.
	batch *tlsBatchConn
	// note is the current request's, for the access log (edge_access.go);
	// answer holds its body when it streams (edge_streamed.go).
	note   accessNote
	answer streamedAnswer
	// edge is the port's handler, for RecordRescue; rescued: the current
	// request's answer was recorded by RecordRescue.
	edge    *edgeHandler
	rescued atomic.Bool

	closeOnce sync.Once
	closeErr  error
	// linger: the current request's body was not read to its end, so
	// Close lingers (conn_linger.go).
	linger bool

	// shutdown, while held, counts a close-delimited answer on this
	// connection that the server's shutdown waits for (http10.go).
	shutdown *sync.WaitGroup
	held     atomic.Bool
}

// edgeTLSConn is an edgeConn over a *tls.Conn. It keeps the methods
// fasthttp looks for to report RequestCtx.IsTLS and the connection state,
// so the edge wrapper sits above TLS and sees the plaintext it frames.
type edgeTLSConn struct {
	edgeConn
	tls *tls.Conn
}

// Handshake runs the TLS handshake under the head deadline armed at accept,
// so a client that never finishes it is cut off after client_header.
func (c *edgeTLSConn) Handshake() error { return c.tls.Handshake() }

// ConnectionState returns the state of the TLS connection.
func (c *edgeTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// Read reads from the client, arming the deadline of the current phase.
func (c *edgeConn) Read(p []byte) (int, error) {
	timeout := c.set.read
	if c.phase == edgePhaseIdle {
		timeout = c.set.idle
	}
	if c.phase != edgePhaseHead {
		if t, ok := c.rd.due(timeout); ok {
			c.Conn.SetReadDeadline(t) //nolint:errcheck // a closed conn fails the Read below
		}
	}
	n, err := c.Conn.Read(p)
	if n == 0 {
		return n, err
	}
	if c.phase == edgePhaseIdle {
		c.phase, c.match, c.last = edgePhaseHead, 0, 0
		if !c.scanHeadEnd(p[:n]) {
			c.lineEnded = bytes.IndexByte(p[:n], '\n') >= 0
			if c.scanBareLFEnd(p[:n]) {
				return n, errEdgeBareLFHead
			}
			// The head of the next request did not come whole: the rest
			// has client_header from its first byte.
			c.Conn.SetReadDeadline(c.rd.exact(c.set.header)) //nolint:errcheck
			return n, err
		}
		c.phase = edgePhaseBody
		return n, err
	}
	if c.phase == edgePhaseHead {
		if c.scanHeadEnd(p[:n]) {
			c.phase = edgePhaseBody
		} else {
			c.lineEnded = c.lineEnded || bytes.IndexByte(p[:n], '\n') >= 0
			if c.scanBareLFEnd(p[:n]) {
				return n, errEdgeBareLFHead
			}
		}
	}
	return n, err
}

// errEdgeBareLFHead refuses a head whose blank line, or the line before
// it, ends in a bare LF. fasthttp waits for a CRLF CRLF that such a client
// never sends, so without this it would sit until client_header and
// answer 408; edgeErrorStatus answers it 400 at once, as a malformed head.
var errEdgeBareLFHead = errors.New("request head ends in a bare LF")

// scanBareLFEnd reports whether b, read after what came before in the
// same head, holds a blank line ending the head with a bare LF: LF LF, or
// LF CR LF not preceded by CR. It runs only on reads that did not complete
// the head, so a head that arrives whole never pays for it.
func (c *edgeConn) scanBareLFEnd(b []byte) bool {
	w := c.last
	for _, x := range b {
		w = w<<8 | uint32(x)
		if bareLFWindow(w) {
			return true
		}
	}
	c.last = w
	return false
}

// scanHeadEnd reports whether b, read after what came before, completes the
// blank line that ends the head. The match may straddle reads.
func (c *edgeConn) scanHeadEnd(b []byte) bool {
	for c.match > 0 && len(b) > 0 {
		if b[0] != headEnd[c.match] {
			c.match = 0
			break
		}
		c.match++
		b = b[1:]
		if c.match == len(headEnd) {
			return true
		}
	}
	if bytes.Contains(b, headEnd) {
		return true
	}
	// Remember a partial match at the tail for the next read.
	for k := len(headEnd) - 1; k > 0; k-- {
		if bytes.HasSuffix(b, headEnd[:k]) {
			c.match = k
			return false
		}
	}
	return false
}

// Write writes to the client in slices, re-arming client_write before each,
// so that only a client that stops reading for that long is cut off.
func (c *edgeConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), edgeWriteSlice)]
		if t, ok := c.wd.due(c.set.write); ok {
			c.Conn.SetWriteDeadline(t) //nolint:errcheck // a closed conn fails the Write below
		}
		if c.batch != nil {
			c.batch.begin()
		}
		n, err := c.Conn.Write(chunk)
		if c.batch != nil {
			if ferr := c.batch.flush(); err == nil && ferr != nil {
				n, err = 0, ferr
			}
		}
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// SetWriteDeadline ignores deadlines set from outside: Write arms its own,
// and a deadline set past it would be forgotten by connDeadline, which
// skips re-arming one it believes still good. The edge sets one through
// fasthttp only to make it flush every response (see edgeHandler.serve).
func (c *edgeConn) SetWriteDeadline(time.Time) error { return nil }

// SetDeadline sets both deadlines, as fasthttp does (to none) before it
// hands a connection to a hijack handler, and forgets the armed ones, so
// that the next Read or Write arms its own again at once rather than once
// the cached one has drifted.
func (c *edgeConn) SetDeadline(t time.Time) error {
	c.rd, c.wd = connDeadline{}, connDeadline{}
	return c.Conn.SetDeadline(t)
}

// beginBody moves the connection to the body phase. The edge calls it when
// a request reaches the handler, for heads that arrived without a Read the
// scanner could see (pipelined behind an earlier request).
func (c *edgeConn) beginBody() { c.phase = edgePhaseBody }

// beginIdle moves the connection to the idle phase once a response is sent.
func (c *edgeConn) beginIdle() { c.phase = edgePhaseIdle }

// Close closes the connection once and forgets it in the registry.
func (c *edgeConn) Close() error {
	c.closeOnce.Do(func() {
		if !c.closeLingering() {
			c.closeErr = c.Conn.Close()
		}
		c.reg.remove(c)
	})
	c.releaseShutdown()
	return c.closeErr
}

// holdShutdown counts this connection's answer in wg until
// releaseShutdown, or Close.
func (c *edgeConn) holdShutdown(wg *sync.WaitGroup) {
	c.shutdown = wg
	wg.Add(1)
	c.held.Store(true)
}

// releaseShutdown ends the count holdShutdown began, once.
func (c *edgeConn) releaseShutdown() {
	if c.held.CompareAndSwap(true, false) {
		c.shutdown.Done()
	}
}

// edgeConnOf returns the edgeConn under a connection fasthttp hands back,
// or nil for one the edge did not accept (a test's in-memory pipe).
func edgeConnOf(nc net.Conn) *edgeConn {
	switch c := nc.(type) {
	case *edgeConn:
		return c
	case *edgeTLSConn:
		return &c.edgeConn
	}
	return nil
}

// edgeConnState is fasthttp's ConnState hook: a connection that has sent its
// response waits for the next request under client_idle.
func edgeConnState(nc net.Conn, st fasthttp.ConnState) {
	if st != fasthttp.StateIdle {
		return
	}
	if c := edgeConnOf(nc); c != nil {
		c.beginIdle()
	}
}

// edgeListener wraps accepted connections in edgeConns and tracks them, so
// Shutdown can close the ones still open when its grace period ends.
type edgeListener struct {
	net.Listener
	// set is what the connections it accepts get, each keeping the one
	// it got; Reload swaps it for new timeouts.
	set atomic.Pointer[edgeSettings]
	reg *edgeConnRegistry
	tls *tls.Config // nil: plain HTTP
	acc acceptRetry
	// edge is the handler serving the port, which its connections name.
	edge *edgeHandler
}

// Accept accepts a connection, arms its head deadline and registers it.
// A connection costs one wrapper allocation here; requests on it cost none.
// A shortage of descriptors or memory is waited out (acceptRetry).
func (l *edgeListener) Accept() (net.Conn, error) {
	nc, err := l.acc.accept(l.Listener)
	if err != nil {
		return nil, err
	}
	set := l.set.Load()
	var head connDeadline
	nc.SetReadDeadline(head.exact(set.header)) //nolint:errcheck // a dead conn fails its first Read
	var c net.Conn
	var ec *edgeConn
	if l.tls != nil {
		raw := &tlsBatchConn{Conn: nc}
		tc := &edgeTLSConn{tls: tls.Server(raw, l.tls)}
		tc.edgeConn = edgeConn{Conn: tc.tls, batch: raw}
		c, ec = tc, &tc.edgeConn
	} else {
		ec = &edgeConn{Conn: nc}
		c = ec
	}
	ec.set, ec.reg, ec.edge, ec.phase, ec.rd = set, l.reg, l.edge, edgePhaseHead, head
	if !l.reg.add(ec) {
		nc.Close()
		return nil, net.ErrClosed
	}
	return c, nil
}

// edgeConnRegistry is the set of open connections of a port.
type edgeConnRegistry struct {
	mu     sync.Mutex
	conns  map[*edgeConn]struct{}
	closed bool
}

func (r *edgeConnRegistry) add(c *edgeConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.conns == nil {
		r.conns = make(map[*edgeConn]struct{})
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *edgeConnRegistry) remove(c *edgeConn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// len is the number of open connections.
func (r *edgeConnRegistry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// closeAll closes every open connection and refuses new ones; it returns
// how many it closed.
func (r *edgeConnRegistry) closeAll() int {
	r.mu.Lock()
	r.closed = true
	conns := make([]*edgeConn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
}
