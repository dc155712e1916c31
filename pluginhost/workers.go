package pluginhost

import (
	"sync"
	"sync/atomic"
	"time"
)

// workers hands calls to idle long-lived goroutines, starting one more only
// when none is idle, so their number settles at the peak of concurrent
// plugin calls (plus any stuck in plugins that never return: Go cannot stop
// a goroutine, so a plugin that hangs for ever keeps its worker). While any
// call may be running, a watchdog goroutine checks the busy workers' calls
// every tick; it exits after a second without calls and is started again
// by the next call.
type workers struct {
	tick      time.Duration
	idleTicks int // ticks without a call before the watchdog exits

	mu       sync.Mutex
	all      []*worker // every worker not yet exited, for the watchdog
	idle     []*worker // waiting on their jobs channel
	stopped  bool
	watching bool // the watchdog runs
}

// worker is one goroutine running calls; cur is the call it was handed
// last, read by the watchdog.
type worker struct {
	jobs chan *call // capacity 1; closed by stop when idle
	cur  atomic.Pointer[call]
}

// tickFor is the watchdog's period for the shortest budget of a chain: a
// twentieth of it, between 1ms and 20ms, so an overrun is answered within
// 5% of the budget (or 20ms) while an idle proxy pays for at most 50
// wake-ups a second, and none a second after its last plugin call.
func tickFor(shortest time.Duration) time.Duration {
	return min(max(shortest/20, time.Millisecond), 20*time.Millisecond)
}

// newWorkers returns an empty pool whose watchdog ticks every tick and
// exits after about a second without calls.
func newWorkers(tick time.Duration) *workers {
	return &workers{tick: tick, idleTicks: int(time.Second/tick) + 1}
}

// run hands c to an idle worker, or a new one.
func (w *workers) run(c *call) {
	w.mu.Lock()
	var wk *worker
	if n := len(w.idle); n > 0 {
		wk = w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
	} else {
		wk = &worker{jobs: make(chan *call, 1)}
		w.all = append(w.all, wk)
		go w.loop(wk)
	}
	// Stored under mu, so the watchdog cannot decide there is nothing to
	// watch between this call's start and its being visible.
	wk.cur.Store(c)
	if !w.watching {
		w.watching = true
		go w.watch()
	}
	w.mu.Unlock()
	wk.jobs <- c
}

func (w *workers) loop(wk *worker) {
	for c := range wk.jobs {
		c.exec()
		wk.cur.Store(nil)
		w.mu.Lock()
		if w.stopped {
			w.remove(wk)
			w.mu.Unlock()
			return
		}
		w.idle = append(w.idle, wk)
		w.mu.Unlock()
	}
}

// remove drops wk from all; under mu.
func (w *workers) remove(wk *worker) {
	for i, o := range w.all {
		if o == wk {
			w.all[i] = w.all[len(w.all)-1]
			w.all[len(w.all)-1] = nil
			w.all = w.all[:len(w.all)-1]
			return
		}
	}
}

// watch expires overdue calls every tick until no call has run for
// idleTicks ticks.
func (w *workers) watch() {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	quiet := 0
	for range t.C {
		now := int64(time.Since(epoch))
		w.mu.Lock()
		busy := false
		for _, wk := range w.all {
			if c := wk.cur.Load(); c != nil && c.running() {
				busy = true
				c.expire(now)
			}
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
		if quiet >= w.idleTicks {
			w.watching = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}

// stop lets idle workers exit; busy ones exit when their call returns.
// Calls made after stop still run, each on a worker that then exits.
func (w *workers) stop() {
	w.mu.Lock()
	w.stopped = true
	for _, wk := range w.idle {
		close(wk.jobs)
		w.remove(wk)
	}
	w.idle = nil
	w.mu.Unlock()
}
