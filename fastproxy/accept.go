package fastproxy

import (
	"log/slog"
	"net"
	"time"

	"github.com/spillway-lb/spillway/balancer"
)

// Accept backoff bounds. fasthttp's server stops serving a listener for
// good on the first Accept error that is not a timeout, and running out of
// file descriptors is such an error: a burst of connections past
// `ulimit -n` would leave the port open, queueing connections nobody
// serves, for the rest of the process's life. The edge listener waits
// those errors out instead, as net/http's server does: the connections
// already open finish, their descriptors come back, and accepting resumes.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = 250 * time.Millisecond
	// acceptLogEvery bounds the log to one warning and one recovery line
	// per period: near the limit, accepts fail and succeed by turns as
	// other connections close.
	acceptLogEvery = 10 * time.Second
)

// acceptRetry accepts one connection from a listener, sleeping between
// attempts while the errors are ones that pass (balancer.LocalShortage:
// descriptors or kernel memory), and returns
// any other error. It is used by the listener's one accepting goroutine.
type acceptRetry struct {
	log      *slog.Logger
	failed   int       // failures since the last warning
	warned   time.Time // last warning
	degraded bool      // a failure was warned about and no recovery logged since
}

func (a *acceptRetry) accept(ln net.Listener) (net.Conn, error) {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err == nil {
			if a.degraded {
				a.degraded = false
				a.log.Info("accepting connections again", "addr", ln.Addr().String())
			}
			return nc, nil
		}
		if !balancer.LocalShortage(err) {
			return nil, err
		}
		a.failed++
		if now := time.Now(); a.warned.IsZero() || now.Sub(a.warned) >= acceptLogEvery {
			a.log.Warn("cannot accept connections; retrying until resources free up (raise the open-files limit, ulimit -n, if this recurs)",
				"addr", ln.Addr().String(), "err", err, "failed_accepts", a.failed)
			a.warned, a.failed, a.degraded = now, 0, true
		}
		delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
		time.Sleep(delay)
	}
}
