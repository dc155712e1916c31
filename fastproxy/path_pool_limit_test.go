package fastproxy

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// TestNoConnectionCapByDefault: with connection_pool.max_open unset ("no
// cap"), more requests may be in flight to one backend at once than
// fasthttp's own default of 512 connections per host; each must reach the
// backend, not be answered 503 as if the backend were full. The origin
// holds every answer until all have arrived (or a deadline passes), so all
// are in flight together.
func TestNoConnectionCapByDefault(t *testing.T) {
	const n = 600
	var (
		mu      sync.Mutex
		arrived int
		all     = make(chan struct{})
	)
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, "ok")
	})
	px := pathStartProxy(t, &configs.Config{
		Services: []configs.Service{pathService("", pathLoc("/", o.URL))},
	}, Options{Logger: edgeTestLogger()})

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}}
	defer client.CloseIdleConnections()
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get("http://" + px.Addr + "/slow")
			if err != nil {
				statuses <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[200] != n {
		t.Errorf("statuses %v, want all %d requests answered 200 by the backend", counts, n)
	}
	mu.Lock()
	defer mu.Unlock()
	if arrived != n {
		t.Errorf("the backend got %d of %d requests", arrived, n)
	}
}
