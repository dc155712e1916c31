package fastproxy

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// scriptedListener returns, per Accept, the next error of its script, or
// one end of a pipe for a nil entry.
type scriptedListener struct {
	script []error
	calls  int
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	i := l.calls
	l.calls++
	if i >= len(l.script) {
		return nil, net.ErrClosed
	}
	if err := l.script[i]; err != nil {
		return nil, err
	}
	c, _ := net.Pipe()
	return c, nil
}

func (l *scriptedListener) Close() error { return nil }
func (l *scriptedListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
}

// emfile is the error net returns when the process is out of descriptors.
func emfile() error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

// TestAcceptWaitsOutShortagesAndLogsThemOnce checks the accept loop
// alone: descriptor shortages are retried until a connection comes, other
// errors end it at once, and accepts that fail and succeed by turns (as
// near the open-files limit) log one warning and one recovery, not one
// pair per turn.
func TestAcceptWaitsOutShortagesAndLogsThemOnce(t *testing.T) {
	var logs bytes.Buffer
	a := acceptRetry{log: slog.New(slog.NewTextHandler(&logs, nil))}
	ln := &scriptedListener{script: []error{
		emfile(), emfile(), nil, // two failures, then a connection
		emfile(), nil, emfile(), nil, // by turns
		&net.OpError{Op: "accept", Net: "tcp", Err: errors.New("some other failure")},
	}}
	for i := range 3 {
		c, err := a.accept(ln)
		if err != nil {
			t.Fatalf("accept %d: %v, want the connection after the shortage", i, err)
		}
		c.Close()
	}
	if _, err := a.accept(ln); err == nil || !strings.Contains(err.Error(), "some other failure") {
		t.Fatalf("accept of another error: %v, want it returned", err)
	}
	if ln.calls != len(ln.script) {
		t.Errorf("%d Accept calls, want %d (no retry of the other error)", ln.calls, len(ln.script))
	}
	out := logs.String()
	if n := strings.Count(out, "cannot accept"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "accepting connections again"); n != 1 {
		t.Errorf("%d recovery lines, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "too many open files") {
		t.Errorf("the warning does not name the cause:\n%s", out)
	}
}
