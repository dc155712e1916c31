package main

import (
	"net"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/bench"
	"github.com/valyala/fasthttp"
)

// TestRunKeepsTheSchedule sends a fixed rate to a real origin and checks
// every due request was sent once, answered ones are timed, and failures
// (a 404 here) are counted instead of timed.
func TestRunKeepsTheSchedule(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: bench.Origin}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	defer srv.Shutdown()

	const rate, dur = 1000, 300 * time.Millisecond
	const total = 300 // rate × dur
	for _, tc := range []struct {
		desc       string
		path       string
		wantTimed  int
		wantFailed int64
	}{
		{desc: "answered", path: "/small", wantTimed: total},
		{desc: "not found", path: "/missing", wantFailed: total},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := run("http://"+ln.Addr().String()+tc.path, rate, dur, 8)
			if len(r.lat) != tc.wantTimed || r.failed != tc.wantFailed {
				t.Fatalf("timed %d, failed %d; want %d and %d", len(r.lat), r.failed, tc.wantTimed, tc.wantFailed)
			}
			// The last request is due at dur - 1/rate; sending them all
			// takes at least that long, however fast the origin answers.
			if floor := dur - time.Second/rate; r.elapsed < floor {
				t.Errorf("took %v; a schedule of %d req/s for %v cannot end before %v", r.elapsed, rate, dur, floor)
			}
			for _, l := range r.lat {
				if l <= 0 {
					t.Fatalf("latency %v; want > 0", l)
				}
			}
		})
	}
}
