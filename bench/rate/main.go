// Command rate sends requests at a fixed rate and prints the latency
// distribution: the open-loop counterpart of wrk, which only measures at
// saturation. bench/loadtest.sh runs it at half of Spillway's measured
// maximum; aimed at another proxy (nginx in the shared rig) at the same
// rate it answers "is p99 at a moderate load as good as theirs?".
//
//	rate -url http://127.0.0.1:18480/small -rate 5000 -d 5s -c 64
//
// Latency runs from when a request was due, not from when a connection
// was free to send it, so a proxy that stalls is charged for the requests
// queued behind the stall (no coordinated omission).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	url := flag.String("url", "", "URL to GET (required)")
	rate := flag.Int("rate", 1000, "requests per second")
	dur := flag.Duration("d", 5*time.Second, "how long to send")
	conns := flag.Int("c", 64, "keep-alive connections (the most requests in flight)")
	flag.Parse()
	if *url == "" || *rate <= 0 || *conns <= 0 || *dur <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	res := run(*url, *rate, *dur, *conns)
	res.print(os.Stdout, *rate)
	if res.failed > 0 {
		os.Exit(1)
	}
}

// result is what one run saw.
type result struct {
	lat     []time.Duration // per answered request, from when it was due
	failed  int64           // errors and non-2xx answers
	elapsed time.Duration
}

// run sends rate requests per second for dur from conns workers.
func run(url string, rate int, dur time.Duration, conns int) result {
	client := &fasthttp.Client{MaxConnsPerHost: conns, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	total := int(float64(rate) * dur.Seconds())
	due := make(chan time.Time, total) // never blocks the schedule
	var failed atomic.Int64
	lats := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			req := fasthttp.AcquireRequest()
			defer fasthttp.ReleaseRequest(req)
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(url)
			for t := range due {
				err := client.Do(req, resp)
				if err != nil || resp.StatusCode()/100 != 2 {
					failed.Add(1)
					continue
				}
				lats[w] = append(lats[w], time.Since(t))
			}
		})
	}
	start := time.Now()
	schedule(due, start, rate, total)
	close(due)
	wg.Wait()
	return result{lat: slices.Concat(lats...), failed: failed.Load(), elapsed: time.Since(start)}
}

// schedule queues total due times, rate per second from start. It wakes
// every millisecond and queues what has come due: sleeping per request
// would cap the rate at the timer's resolution.
func schedule(due chan<- time.Time, start time.Time, rate, total int) {
	interval := time.Second / time.Duration(rate)
	for i := 0; i < total; {
		now := time.Now()
		for ; i < total; i++ {
			t := start.Add(time.Duration(i) * interval)
			if t.After(now) {
				break
			}
			due <- t
		}
		time.Sleep(time.Millisecond)
	}
}

// print writes one summary line: achieved rate, percentiles in ms, failures.
func (r result) print(w io.Writer, rate int) {
	slices.Sort(r.lat)
	pct := func(p float64) float64 {
		if len(r.lat) == 0 {
			return 0
		}
		return float64(r.lat[int(p*float64(len(r.lat)-1))]) / float64(time.Millisecond)
	}
	fmt.Fprintf(w, "target %d req/s achieved %.0f req/s p50 %.3f ms p90 %.3f ms p99 %.3f ms max %.3f ms failed %d\n",
		rate, float64(len(r.lat))/r.elapsed.Seconds(), pct(0.50), pct(0.90), pct(0.99), pct(1), r.failed)
}
