package fastproxy

import (
	"net"
	"time"
)

// An answer sent before the request's body was read (the backend refused
// an upload from its head, the edge refused one over max_body_bytes) is
// followed by a close while the client is still sending. Closing a socket
// with unread bytes makes the kernel send a reset, and a reset can destroy
// the answer in the client's receive queue before the client reads it: it
// then sees "connection reset" instead of the 413. So, as nginx's
// lingering_close does, such a connection first sends its FIN and reads
// and drops what still comes, for a bounded time, before it closes.
const (
	lingerTime    = 2 * time.Second        // at most, in all
	lingerTimeout = 500 * time.Millisecond // at most between two reads
)

// lingerOnClose asks Close to linger: the current request's body was not
// read to its end.
func (c *edgeConn) lingerOnClose() { c.linger = true }

// closeLingering closes a plain TCP connection after a lingering half
// close, in a goroutine of its own so that no caller of Close (the
// server's shutdown among them) waits for it, and reports whether it did.
// TLS connections close at once: their CloseWrite sends no FIN.
func (c *edgeConn) closeLingering() bool {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok || !c.linger || tc.CloseWrite() != nil {
		return false
	}
	go func() {
		var buf [4096]byte
		end := time.Now().Add(lingerTime)
		for {
			now := time.Now()
			if !now.Before(end) {
				break
			}
			next := now.Add(lingerTimeout)
			if next.After(end) {
				next = end
			}
			tc.SetReadDeadline(next) //nolint:errcheck // a failed read ends the loop
			if _, err := tc.Read(buf[:]); err != nil {
				break
			}
		}
		tc.Close()
	}()
	return true
}
