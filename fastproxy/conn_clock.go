package fastproxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// Connection deadlines are re-armed on progress (conn_deadline.go for
// clients, idleConn for backends). Doing that with time.Now and
// SetDeadline on every read and write cost about 5% of the proxy's CPU, so
// deadlines are kept on a coarse clock and re-armed only when the armed
// value has drifted: a busy connection sets each deadline a few times per
// timeout instead of several times per request.

// clockTick is the resolution of the coarse clock.
const clockTick = 10 * time.Millisecond

var coarseClock struct {
	once sync.Once
	now  atomic.Int64 // unix nanoseconds, at most clockTick behind
}

// coarseNow returns the time in unix nanoseconds, at most clockTick behind.
func coarseNow() int64 {
	coarseClock.once.Do(func() {
		coarseClock.now.Store(time.Now().UnixNano())
		go func() {
			for t := range time.Tick(clockTick) {
				coarseClock.now.Store(t.UnixNano())
			}
		}()
	})
	return coarseClock.now.Load()
}

// connDeadline is one direction's deadline of a connection, as last armed.
// It is used by one goroutine at a time.
type connDeadline struct{ at int64 }

// due reports the deadline to arm so that timeout is counted from now, or
// false when the armed one is still good: not before now+timeout (so a
// deadline never fires early) and at most a 64th of timeout, or a clock
// tick, after it.
func (d *connDeadline) due(timeout time.Duration) (time.Time, bool) {
	want := coarseNow() + int64(clockTick) + int64(timeout)
	slack := max(int64(clockTick), int64(timeout)>>6)
	if want <= d.at && d.at <= want+slack {
		return time.Time{}, false
	}
	d.at = want + slack
	return time.Unix(0, d.at), true
}

// exact returns the deadline timeout from now, for limits that must not
// drift, such as a request head's.
func (d *connDeadline) exact(timeout time.Duration) time.Time {
	d.at = coarseNow() + int64(clockTick) + int64(timeout)
	return time.Unix(0, d.at)
}
