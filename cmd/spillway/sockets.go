package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The environment by which an upgrading process (upgrade.go) hands its
// listening sockets to the process it starts: socketsEnv lists their
// addresses, separated by socketsSep, the first being file descriptor 3 and
// the next ones following; readyEnv names the descriptor the new process
// writes to once it serves.
const (
	socketsEnv = "SPILLWAY_SOCKETS"
	readyEnv   = "SPILLWAY_READY_FD"
	socketsSep = ";"
)

// sockets are the listening sockets of this process, by the address they
// were opened for, so that an upgrade can hand them to its successor. The
// sockets inherited from a predecessor are handed out to the listens that
// ask for the same address, in order; those nobody asked for are closed
// once the process serves (their port left the configuration).
type sockets struct {
	mu        sync.Mutex
	inherited map[string][]*net.TCPListener
	open      []socket
	taken     int      // inherited sockets handed out
	ready     *os.File // the predecessor waits on it; nil: nobody does
}

type socket struct {
	addr string
	ln   *net.TCPListener
}

// inheritSockets takes the sockets and the readiness descriptor a
// predecessor passed, if any, and clears the environment that named them,
// so that this process's own successor does not see them.
func inheritSockets() (*sockets, error) {
	s := &sockets{inherited: make(map[string][]*net.TCPListener)}
	list, ready := os.Getenv(socketsEnv), os.Getenv(readyEnv)
	os.Unsetenv(socketsEnv)
	os.Unsetenv(readyEnv)
	if ready != "" {
		fd, err := strconv.Atoi(ready)
		if err != nil || fd < 3 {
			return nil, fmt.Errorf("%s=%q: not a file descriptor", readyEnv, ready)
		}
		s.ready = os.NewFile(uintptr(fd), "upgrade readiness")
	}
	if list == "" {
		return s, nil
	}
	for i, addr := range strings.Split(list, socketsSep) {
		f := os.NewFile(uintptr(3+i), "inherited socket "+addr)
		ln, err := net.FileListener(f)
		f.Close() // FileListener holds a copy of its own
		if err != nil {
			s.closeInherited()
			return nil, fmt.Errorf("inherited socket %d (%s): %w", 3+i, addr, err)
		}
		tl, ok := ln.(*net.TCPListener)
		if !ok {
			ln.Close()
			s.closeInherited()
			return nil, fmt.Errorf("inherited socket %d (%s) is not a TCP listener", 3+i, addr)
		}
		s.inherited[addr] = append(s.inherited[addr], tl)
	}
	return s, nil
}

// listen returns the inherited socket opened for address, or opens one.
// It is the proxy's and the metrics endpoint's net.Listen.
func (s *sockets) listen(network, address string) (net.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ln *net.TCPListener
	if q := s.inherited[address]; network == "tcp" && len(q) > 0 {
		ln, s.inherited[address] = q[0], q[1:]
		s.taken++
	} else {
		l, err := net.Listen(network, address)
		if err != nil {
			return nil, err
		}
		tl, ok := l.(*net.TCPListener)
		if !ok {
			return l, nil // not TCP: it cannot be handed over, but it serves
		}
		ln = tl
	}
	s.open = append(s.open, socket{address, ln})
	return ln, nil
}

// upgrading reports whether a predecessor waits for this process to serve.
func (s *sockets) upgrading() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready != nil
}

// takenOver is how many of the open sockets came from a predecessor.
func (s *sockets) takenOver() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taken
}

// serving is called once the process serves: it closes the inherited
// sockets no listen asked for and tells the predecessor, if any, that it
// may stop.
func (s *sockets) serving() error {
	s.mu.Lock()
	s.closeInherited()
	ready := s.ready
	s.ready = nil
	s.mu.Unlock()
	if ready == nil {
		return nil
	}
	_, err := ready.Write([]byte("ready\n"))
	return errors.Join(err, ready.Close())
}

// closeInherited closes the inherited sockets still unclaimed.
func (s *sockets) closeInherited() {
	for addr, q := range s.inherited {
		for _, ln := range q {
			ln.Close()
		}
		delete(s.inherited, addr)
	}
}

// files returns a copy of every open socket's descriptor and the value of
// socketsEnv that names them, in that order, for a successor.
func (s *sockets) files() ([]*os.File, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	files := make([]*os.File, 0, len(s.open))
	addrs := make([]string, 0, len(s.open))
	for _, o := range s.open {
		f, err := dupListener(o.ln)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, "", fmt.Errorf("socket %s: %w", o.addr, err)
		}
		files = append(files, f)
		addrs = append(addrs, o.addr)
	}
	return files, strings.Join(addrs, socketsSep), nil
}

// dupListener returns a copy of ln's descriptor, left non-blocking.
// TCPListener.File is not used: the exec of the successor calls the
// copy's Fd, which puts a copy File returns in blocking mode, and with it
// the listener this process still accepts on, since both share one open
// file description. A blocking accept would then hold up Close, and the
// shutdown, until a connection arrives.
func dupListener(ln *net.TCPListener) (*os.File, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	var (
		dup    int
		dupErr error
	)
	err = rc.Control(func(fd uintptr) {
		// Under ForkLock, as the standard library does, so that no other
		// fork inherits the copy before it is marked close-on-exec.
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		dup, dupErr = syscall.Dup(int(fd))
		if dupErr == nil {
			syscall.CloseOnExec(dup)
		}
	})
	if err == nil {
		err = dupErr
	}
	if err != nil {
		return nil, os.NewSyscallError("dup", err)
	}
	return os.NewFile(uintptr(dup), ln.Addr().String()), nil
}
