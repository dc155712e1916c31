package fastproxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// TestRetryStopsOnceTheBackendBeganToAnswer: an idempotent request that
// fails after any byte of an answer arrived went to a backend that acted
// on it, so it gets 502 and is not sent to another backend.
func TestRetryStopsOnceTheBackendBeganToAnswer(t *testing.T) {
	good := pathEchoOrigin(t, "good")
	tests := []struct {
		desc, answer string
	}{
		{"part of a head", "HTTP/1.1 200 OK\r\nContent-Le"},
		{"a head and part of a small body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
		{"a head and part of a large body", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc"},
		{"an interim answer", "HTTP/1.1 100 Continue\r\n\r\n"},
		{"a malformed head", "HTTP/1.1 abc\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			broken := pathRawOrigin(t, func(c net.Conn) {
				if _, err := pathReadHead(bufio.NewReader(c)); err == nil {
					io.WriteString(c, tc.answer)
				}
			})
			good.Hits.Store(0)
			px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
				pathService("", pathLoc("/", broken, good.URL))}}, Options{})
			// The pool starts at its first backend, the broken one.
			resp, err := pathClient().Get("http://" + px.Addr + "/")
			if err == nil {
				// A body cut short after its head reaches the client as a
				// truncated 200; either way nothing was resent.
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusOK {
					t.Errorf("status %d, want 502 (or a cut-short 200)", resp.StatusCode)
				}
			}
			if n := good.Hits.Load(); n != 0 {
				t.Errorf("the request was resent to the good backend (%d hits)", n)
			}
		})
	}
}

// TestMaxConnectionsCountsAStreamingAnswerUntilItIsSent: a request holds
// its backend's max_connections slot until its streamed answer has been
// written to the client, not only until the answer's head arrived.
func TestMaxConnectionsCountsAStreamingAnswerUntilItIsSent(t *testing.T) {
	gate := make(chan struct{})
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			io.WriteString(w, "fast")
			return
		}
		w.Write(bytes.Repeat([]byte("a"), 1000))
		w.(http.Flusher).Flush() // chunked: the proxy streams it
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
		}
		io.WriteString(w, "end")
	})
	loc := pathLoc("/", o.URL)
	loc.Backends[0].MaxConnections = 1
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", loc)}}, Options{})

	resp, err := pathClient().Get("http://" + px.Addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("first part of the stream: %v", err)
	}
	// The head has long arrived and the body is still streaming.
	if r, body := pathDo(t, px, "GET", "h", "/fast", nil, nil); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("while the only slot streams an answer: status %d %q, want 503", r.StatusCode, body)
	}
	close(gate)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "end" {
		t.Fatalf("rest of the stream %q, %v", rest, err)
	}
	// The slot is given back when the server closes the body, just after
	// the client has it all.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, body := pathDo(t, px, "GET", "h", "/fast", nil, nil)
		if r.StatusCode == http.StatusOK && body == "fast" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stream ended: status %d %q, want 200", r.StatusCode, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFullConnectionPoolDoesNotEjectTheBackend: requests that find every
// connection of connection_pool.max_open in use get 503, but a busy
// backend is not a broken one: passive health does not eject it.
func TestFullConnectionPoolDoesNotEjectTheBackend(t *testing.T) {
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(600 * time.Millisecond)
		}
		io.WriteString(w, "ok")
	})
	zero := 0
	cfg := &configs.Config{
		ConnectionPool: configs.Pool{MaxOpen: 1},
		// The wait for a free connection is the connect timeout.
		Timeouts:      configs.Timeouts{BackendConnect: configs.Duration(100 * time.Millisecond)},
		PassiveHealth: configs.PassiveHealth{FailureThreshold: 1, Backoff: configs.Duration(time.Minute)},
		Retry:         configs.Retry{Attempts: &zero},
		Services:      []configs.Service{pathService("", pathLoc("/", o.URL))},
	}
	px := pathStartProxy(t, cfg, Options{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 3 {
		wg.Go(func() {
			r, _ := pathDo(t, px, "GET", "h", "/slow", nil, nil)
			mu.Lock()
			codes[r.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusOK] != 1 || codes[http.StatusServiceUnavailable] != 2 {
		t.Fatalf("statuses %v, want one 200 and two 503 (no free connection)", codes)
	}
	r, body := pathDo(t, px, "GET", "h", "/", nil, nil)
	if r.StatusCode != http.StatusOK || !strings.Contains(body, "ok") {
		t.Fatalf("after a full pool: status %d %q (Retry-After %q), want 200: the backend was ejected",
			r.StatusCode, body, r.Header.Get("Retry-After"))
	}
}
