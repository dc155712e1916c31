package fastproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// retryCloser is a loopback origin that reads each request whole, head and
// body, and closes the connection without answering; it counts the
// requests and keeps the last body, so a test knows the body was sent.
type retryCloser struct {
	URL  string
	Hits atomic.Int64
	mu   sync.Mutex
	body string
}

func (o *retryCloser) lastBody() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.body
}

// retryStartCloser starts a retryCloser; with reset it sends a TCP reset
// instead of a clean close.
func retryStartCloser(t *testing.T, reset bool) *retryCloser {
	o := &retryCloser{}
	o.URL = pathRawOrigin(t, func(c net.Conn) {
		req, err := pathReadHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		o.mu.Lock()
		o.body = string(b)
		o.mu.Unlock()
		o.Hits.Add(1)
		if reset {
			c.(*net.TCPConn).SetLinger(0) // Close sends RST
		}
	})
	return o
}

// retryProxy serves one location with backends in round-robin order, so
// the first request tries urls[0] first and each retry the next backend.
func retryProxy(t *testing.T, retry configs.Retry, passive configs.PassiveHealth, urls ...string) *pathProxy {
	t.Helper()
	return pathStartProxy(t, &configs.Config{
		Services:      []configs.Service{pathService("", pathLoc("/", urls...))},
		Retry:         retry,
		PassiveHealth: passive,
	}, Options{Logger: edgeTestLogger()})
}

// TestRetryIdempotentMethodsLetsABodySentBeRetried: a POST whose body
// reached a backend that then closed without answering is retried on
// another backend, body and all, when retry.idempotent_methods names POST,
// and answered 502 without being retried when it does not.
func TestRetryIdempotentMethodsLetsABodySentBeRetried(t *testing.T) {
	tests := []struct {
		desc       string
		methods    []string
		wantStatus int
		wantGood   int64
	}{
		{"idempotent_methods [POST] retries it", []string{"POST"}, 200, 1},
		{"idempotent_methods [PATCH] does not", []string{"PATCH"}, 502, 0},
		{"no idempotent_methods does not", nil, 502, 0},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			first := retryStartCloser(t, false)
			good := pathEchoOrigin(t, "good")
			px := retryProxy(t, configs.Retry{IdempotentMethods: tc.methods}, configs.PassiveHealth{}, first.URL, good.URL)
			resp, body := pathDo(t, px, "POST", "h", "/", strings.NewReader("order=42"), nil)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if got := first.lastBody(); got != "order=42" {
				t.Fatalf("first backend got body %q: it was not sent, so this is not the case under test", got)
			}
			if got := good.Hits.Load(); got != tc.wantGood {
				t.Errorf("second backend hit %d times, want %d", got, tc.wantGood)
			}
			if tc.wantStatus == 200 {
				if seen := pathSeenBy(t, body); seen.Method != "POST" || seen.Body != "order=42" {
					t.Errorf("retry reached the second backend as %s with body %q", seen.Method, seen.Body)
				}
			}
		})
	}
}

// TestRetryAttemptsBoundsTheBackendsTried: with two backends that close
// without answering ahead of a good one, a GET reaches the good one only
// when retry.attempts allows two retries; each attempt goes to the next
// backend, and no backend is tried past the count.
func TestRetryAttemptsBoundsTheBackendsTried(t *testing.T) {
	tests := []struct {
		attempts   int
		wantStatus int
		wantHits   [3]int64 // first failing, second failing, good
	}{
		{2, 200, [3]int64{1, 1, 1}},
		{1, 502, [3]int64{1, 1, 0}},
		{0, 502, [3]int64{1, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("attempts=", tc.attempts), func(t *testing.T) {
			f1, f2 := retryStartCloser(t, false), retryStartCloser(t, true)
			good := pathEchoOrigin(t, "good")
			px := retryProxy(t, configs.Retry{Attempts: &tc.attempts}, configs.PassiveHealth{}, f1.URL, f2.URL, good.URL)
			resp, body := pathDo(t, px, "GET", "h", "/", nil, nil)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if got := [3]int64{f1.Hits.Load(), f2.Hits.Load(), good.Hits.Load()}; got != tc.wantHits {
				t.Errorf("hits %v, want %v", got, tc.wantHits)
			}
		})
	}
}

// TestRetryMaxBodyBytesDecidesWhetherASizedBodyIsResent: a PUT with a
// Content-Length body (not chunked) at retry.max_body_bytes is held whole
// and resent on another backend after the first closes without answering;
// one byte over is streamed to the first backend and cannot be resent, so
// the client gets 502. The default limit is 64 KiB.
func TestRetryMaxBodyBytesDecidesWhetherASizedBodyIsResent(t *testing.T) {
	tests := []struct {
		desc       string
		limit      int // retry.max_body_bytes; 0 for the default
		size       int
		wantStatus int
	}{
		{"at a 1000-byte limit", 1000, 1000, 200},
		{"one byte over a 1000-byte limit", 1000, 1001, 502},
		{"at the default 64 KiB", 0, 64 << 10, 200},
		{"one byte over the default 64 KiB", 0, 64<<10 + 1, 502},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			first := retryStartCloser(t, false)
			good := pathEchoOrigin(t, "good")
			px := retryProxy(t, configs.Retry{MaxBodyBytes: tc.limit}, configs.PassiveHealth{}, first.URL, good.URL)
			payload := strings.Repeat("p", tc.size)
			req, err := http.NewRequest("PUT", "http://"+px.Addr+"/", strings.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			if req.ContentLength != int64(tc.size) {
				t.Fatalf("request would be sent with Content-Length %d", req.ContentLength)
			}
			resp, err := pathClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := len(first.lastBody()); got != tc.size {
				t.Errorf("first backend got %d body bytes, want all %d", got, tc.size)
			}
			if tc.wantStatus != 200 {
				if n := good.Hits.Load(); n != 0 {
					t.Errorf("body over the limit resent: second backend hit %d times", n)
				}
				return
			}
			if seen := pathSeenBy(t, string(b)); seen.Body != payload {
				t.Errorf("second backend got %d body bytes, want the whole %d", len(seen.Body), tc.size)
			}
		})
	}
}

// TestPassiveHealthCounts5xxThroughTheProxy: with passive_health.count_5xx
// and failure_threshold 2, a backend answering 500 gets exactly two
// requests (round-robin with a good one) and is then ejected; without
// count_5xx its 500s are answers like any other and it keeps its share.
// A 5xx is an answer, so it is passed to the client, not retried. The
// same holds for a 500 whose body is large enough to stream.
func TestPassiveHealthCounts5xxThroughTheProxy(t *testing.T) {
	tests := []struct {
		count5xx  bool
		body      int   // bytes of the 500's body
		wantFails int64 // requests reaching the failing backend out of 10
	}{
		{true, 7, 2},
		{false, 7, 5},
		{true, 200 << 10, 2},
		{false, 200 << 10, 5},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("count_5xx=", tc.count5xx, "/body=", tc.body), func(t *testing.T) {
			failing := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, strings.Repeat("x", tc.body-1), http.StatusInternalServerError)
			})
			good := pathEchoOrigin(t, "good")
			px := retryProxy(t, configs.Retry{}, configs.PassiveHealth{FailureThreshold: 2, Count5xx: tc.count5xx,
				Backoff: configs.Duration(time.Minute)}, failing.URL, good.URL)
			fives := int64(0)
			for range 10 {
				resp, body := pathDo(t, px, "GET", "h", "/", nil, nil)
				switch resp.StatusCode {
				case 500:
					fives++
				case 200:
				default:
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
			}
			if got := failing.Hits.Load(); got != tc.wantFails {
				t.Errorf("failing backend got %d of 10 requests, want %d", got, tc.wantFails)
			}
			if fives != failing.Hits.Load() {
				t.Errorf("%d answers of 500 for %d requests to the failing backend: a 5xx was retried or lost", fives, failing.Hits.Load())
			}
		})
	}
}

// TestBackendClosingOrResettingBeforeAnsweringCountsTowardEjection: not
// only refused connects are failures; a backend that accepts the request
// and then closes or resets the connection without answering is ejected
// after failure_threshold such requests (each retried on the good backend,
// so every client gets 200), and gets nothing more during its back-off.
func TestBackendClosingOrResettingBeforeAnsweringCountsTowardEjection(t *testing.T) {
	for _, reset := range []bool{false, true} {
		name := "closes"
		if reset {
			name = "resets"
		}
		t.Run(name, func(t *testing.T) {
			bad := retryStartCloser(t, reset)
			good := pathEchoOrigin(t, "good")
			px := retryProxy(t, configs.Retry{}, configs.PassiveHealth{FailureThreshold: 2,
				Backoff: configs.Duration(time.Minute)}, bad.URL, good.URL)
			for i := range 10 {
				if resp, body := pathDo(t, px, "GET", "h", "/", nil, nil); resp.StatusCode != 200 {
					t.Fatalf("request %d: status %d %q, want 200 from the retry", i+1, resp.StatusCode, body)
				}
			}
			if got := bad.Hits.Load(); got != 2 {
				t.Errorf("backend that %s without answering got %d of 10 requests, want 2 (then ejected)", name, got)
			}
			if got := good.Hits.Load(); got != 10 {
				t.Errorf("good backend got %d requests, want all 10", got)
			}
		})
	}
}
