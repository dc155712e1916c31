package fastproxy

import (
	"net"
	"time"
)

// A backend closes keep-alive connections it has let sit idle: gunicorn
// after 2 s, Node.js after 5 s, Go's servers at their IdleTimeout, nginx
// at keepalive_timeout. Nothing reads a pooled connection while it waits,
// so its close goes unnoticed until the next request is written into it
// and the answer never comes. A GET is then retried, but a POST must not
// be (the backend might have acted on it) and was answered 502, about
// every other POST after a pause. nginx and net/http avoid this by
// watching idle connections; here a connection that has been idle for
// staleCheckAfter or more is checked, with one non-blocking peek, before
// it is reused. Connections of a busy pool come back sooner and are never
// checked, and one is checked at most once per staleCheckAfter, so the
// cost is negligible at any load.
const staleCheckAfter = 250 * time.Millisecond

// markIdle records that c (a backend connection as the pool holds it) has
// just gone back to the pool.
func markIdle(c net.Conn) {
	if ic := idleConnOf(c); ic != nil {
		ic.idleSince = coarseNow()
	}
}

// closedWhileIdle reports whether c, taken from the pool, must not be
// used: it waited long enough to be checked, and its backend has closed
// it, reset it or sent something unasked meanwhile.
func closedWhileIdle(c net.Conn) bool {
	ic := idleConnOf(c)
	if ic == nil || ic.idleSince == 0 || coarseNow()-ic.idleSince < int64(staleCheckAfter) {
		return false
	}
	ic.idleSince = 0
	// The read deadline left from the last answer may have passed while
	// the connection waited; a peek past it would fail.
	if t, ok := ic.rd.due(ic.timeout); ok {
		if err := ic.Conn.SetReadDeadline(t); err != nil {
			return true
		}
	}
	return !peekOpen(ic.Conn)
}

// idleConnOf finds the idleConn under c: c itself, or the connection
// under a TLS client.
func idleConnOf(c net.Conn) *idleConn {
	switch v := c.(type) {
	case *idleConn:
		return v
	case interface{ NetConn() net.Conn }:
		ic, _ := v.NetConn().(*idleConn)
		return ic
	}
	return nil
}
