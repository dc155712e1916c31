//go:build linux || darwin || freebsd || netbsd || openbsd

package fastproxy

import (
	"errors"
	"net"
	"syscall"
)

// peekOpen reports whether c is still open with nothing to read: a
// non-blocking MSG_PEEK finds no data and no end of stream. Anything else
// (EOF, a reset, unasked bytes such as a 408 sent before closing, an
// error) means the connection cannot carry a request.
func peekOpen(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var (
		buf  [1]byte
		n    int
		perr error
	)
	if err := rc.Read(func(fd uintptr) bool {
		n, _, perr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait: a pending read is the answer
	}); err != nil {
		return false
	}
	return n <= 0 && errors.Is(perr, syscall.EAGAIN)
}
