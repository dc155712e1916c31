package pluginhost

import (
	"sync"
	"sync/atomic"
	"time"
)

// watchdog expires the calls that overrun their budget. A call holds a
// slot while its plugins run; while any call may be running, a goroutine
// checks the slots' calls every tick, and exits after about a second
// without calls (the next call starts it again). Slots are pooled, so
// their number settles at the peak of concurrent calls.
type watchdog struct {
	tick atomic.Int64  // nanoseconds; setTick changes it
	idle time.Duration // without a call for this long, the goroutine exits

	mu       sync.Mutex
	slots    []*slot // every slot, for the scan
	free     []*slot
	watching bool // the goroutine runs
}

// slot is where the watchdog finds one running call.
type slot struct{ cur atomic.Pointer[call] }

// tickFor is the watchdog's period for the shortest budget of a chain: a
// twentieth of it, between 1ms and 20ms, so an overrun is answered within
// 5% of the budget (or 20ms) while an idle proxy pays for at most 50
// wake-ups a second, and none a second after its last plugin call.
func tickFor(shortest time.Duration) time.Duration {
	return min(max(shortest/20, time.Millisecond), 20*time.Millisecond)
}

// newWatchdog returns a watchdog that ticks every tick.
func newWatchdog(tick time.Duration) *watchdog {
	w := &watchdog{idle: time.Second}
	w.tick.Store(int64(tick))
	return w
}

// setTick changes the period; a running watch picks it up at its next
// tick.
func (w *watchdog) setTick(tick time.Duration) { w.tick.Store(int64(tick)) }

// enter puts c under watch until leave.
func (w *watchdog) enter(c *call) *slot {
	w.mu.Lock()
	var s *slot
	if n := len(w.free); n > 0 {
		s = w.free[n-1]
		w.free[n-1] = nil
		w.free = w.free[:n-1]
	} else {
		s = new(slot)
		w.slots = append(w.slots, s)
	}
	// Stored under mu, so the goroutine cannot decide there is nothing to
	// watch between this call's start and its being visible.
	s.cur.Store(c)
	if !w.watching {
		w.watching = true
		go w.watch()
	}
	w.mu.Unlock()
	return s
}

// leave ends the watch of s's call.
func (w *watchdog) leave(s *slot) {
	s.cur.Store(nil)
	w.mu.Lock()
	w.free = append(w.free, s)
	w.mu.Unlock()
}

// watch expires overdue calls every tick until no call has run for idle.
func (w *watchdog) watch() {
	tick := time.Duration(w.tick.Load())
	t := time.NewTicker(tick)
	defer t.Stop()
	quiet := 0
	for range t.C {
		if now := time.Duration(w.tick.Load()); now != tick {
			tick, quiet = now, 0
			t.Reset(tick)
		}
		now := int64(time.Since(epoch))
		w.mu.Lock()
		busy := false
		for _, s := range w.slots {
			if c := s.cur.Load(); c != nil && c.running() {
				busy = true
				c.expire(now)
			}
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
		if time.Duration(quiet)*tick > w.idle {
			w.watching = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}
