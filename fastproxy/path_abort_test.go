package fastproxy

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// abortLog collects a proxy's log lines for a test to read.
type abortLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *abortLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *abortLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// abortProxy serves one location in front of urls (round-robin, so the
// first request goes to urls[0]), ejecting a backend after threshold
// failures and cutting a client whose body pauses for a second, and logs
// at Info into the returned abortLog.
func abortProxy(t *testing.T, threshold int, urls ...string) (*pathProxy, *abortLog) {
	t.Helper()
	l := &abortLog{}
	px := pathStartProxy(t, &configs.Config{
		Services:      []configs.Service{pathService("", pathLoc("/", urls...))},
		PassiveHealth: configs.PassiveHealth{FailureThreshold: threshold, Backoff: configs.Duration(time.Minute)},
		Timeouts:      configs.Timeouts{ClientRead: configs.Duration(time.Second)},
	}, Options{Logger: slog.New(slog.NewTextHandler(l, nil))})
	return px, l
}

// abortStart sends the head of a POST with a size-byte body and the
// first sent bytes of it.
func abortStart(t *testing.T, addr string, size, sent int) net.Conn {
	t.Helper()
	c := edgeDial(t, addr)
	head := "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	if _, err := io.WriteString(c, head+strings.Repeat("u", sent)); err != nil {
		t.Fatal(err)
	}
	return c
}

// abortFinish gives up on the upload on c as how says: "half-close" stops
// sending and "stall" just sends no more, and each reads the proxy's
// answer, returning its status; "close" and "reset" drop the connection
// (0 returned).
func abortFinish(t *testing.T, c net.Conn, how string) int {
	t.Helper()
	switch how {
	case "half-close", "stall":
		if how == "half-close" {
			c.(*net.TCPConn).CloseWrite()
		}
		resp, _ := edgeRead(t, bufio.NewReader(c), "POST")
		return resp.StatusCode
	case "reset":
		c.(*net.TCPConn).SetLinger(0)
	}
	c.Close()
	return 0
}

// abortUpload starts an upload and gives up on it at once.
func abortUpload(t *testing.T, addr, how string, size, sent int) int {
	t.Helper()
	return abortFinish(t, abortStart(t, addr, size, sent), how)
}

// TestAbortedUploadsAreNotTheBackendsFailure: clients that send half of a
// 200 kB body and go away (stop sending, close, reset, or stall past
// client_read) are the clients' failures, not the backend's, though the
// body was already on its way to the backend: more of them than
// failure_threshold leave the backend in rotation, so the next innocent
// GET gets 200 rather than 503. A client still listening gets 400 (408
// when it stalled), and the log says it aborted rather than blaming the
// backend with a 502 (or a 504 for the stall).
func TestAbortedUploadsAreNotTheBackendsFailure(t *testing.T) {
	for _, tc := range []struct {
		how    string
		status int // 0: the client does not read an answer
	}{{"half-close", 400}, {"stall", 408}, {"close", 0}, {"reset", 0}} {
		how := tc.how
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			o := edgeStartOrigin(t, nil)
			px, logs := abortProxy(t, 2, o.URL)
			// All six are under way at once, as they would be on a busy
			// server (and the stalls then take one client_read, not six).
			conns := make([]net.Conn, 6)
			for i := range conns {
				conns[i] = abortStart(t, px.Addr, 200_000, 100_000)
				select {
				case <-o.heads: // the body is streaming to the backend
				case <-time.After(5 * time.Second):
					t.Fatalf("aborted upload %d never reached the backend: not the case under test", i+1)
				}
			}
			for i, c := range conns {
				if status := abortFinish(t, c, how); status != tc.status {
					t.Fatalf("aborted upload %d answered %d, want %d", i+1, status, tc.status)
				}
			}
			if tc.status == 0 {
				// Nothing to read: let the proxy notice the aborts first.
				abortWaitLog(t, logs, 6)
			}
			for i := range 5 {
				if resp, body := pathDo(t, px, "GET", "h", "/", nil, nil); resp.StatusCode != 200 {
					t.Fatalf("GET %d after the aborted uploads: %d %q, want 200", i+1, resp.StatusCode, body)
				}
			}
			if got := o.Requests(); got != 5 {
				t.Errorf("backend read %d whole requests, want the 5 GETs", got)
			}
			if l := logs.String(); strings.Contains(l, "proxy error") || strings.Count(l, "client aborted") != 6 {
				t.Errorf("log should say each of the 6 clients aborted and blame no backend:\n%s", l)
			} else if tc.status != 0 && strings.Count(l, "status="+strconv.Itoa(tc.status)) != 6 {
				t.Errorf("log should give the %d the clients got:\n%s", tc.status, l)
			}
		})
	}
}

// abortWaitLog waits until the log says n clients aborted.
func abortWaitLog(t *testing.T, logs *abortLog, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); strings.Count(logs.String(), "client aborted") < n; {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy logged %d aborted clients, want %d:\n%s", strings.Count(logs.String(), "client aborted"), n, logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAbortedSmallUploadIsNotForwarded: a body small enough to be held
// for a retry is read whole before any backend is picked; when the client
// goes away halfway, nothing reaches the backend (not a request with a
// body made of the read error, as fasthttp would leave it), the client
// gets 400, and the backend stays in rotation.
func TestAbortedSmallUploadIsNotForwarded(t *testing.T) {
	o := edgeStartOrigin(t, nil)
	px, logs := abortProxy(t, 1, o.URL)
	for i := range 3 {
		if status := abortUpload(t, px.Addr, "half-close", 60_000, 30_000); status != 400 {
			t.Fatalf("aborted upload %d answered %d, want 400", i+1, status)
		}
	}
	edgeExpectNothing(t, o)
	if resp, body := pathDo(t, px, "GET", "h", "/", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("GET after the aborted uploads: %d %q, want 200", resp.StatusCode, body)
	}
	if l := logs.String(); strings.Count(l, "client aborted") != 3 {
		t.Errorf("log should say each of the 3 clients aborted:\n%s", l)
	}
}

// TestBackendResettingWhileReceivingABodyCountsAsAFailure: the other side
// of telling the two apart. A backend that resets the connection while
// the proxy is still writing the request body to it has failed: the
// client gets 502 (a streamed body cannot be resent) and, with
// failure_threshold 1, the backend gets no further request.
func TestBackendResettingWhileReceivingABodyCountsAsAFailure(t *testing.T) {
	reset := make(chan struct{}, 1)
	hits := 0
	var mu sync.Mutex
	bad := pathRawOrigin(t, func(c net.Conn) {
		mu.Lock()
		hits++
		mu.Unlock()
		req, err := pathReadHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		io.ReadFull(req.Body, make([]byte, 1000))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
		reset <- struct{}{}
	})
	good := pathEchoOrigin(t, "good")
	px, logs := abortProxy(t, 1, bad, good.URL)

	c := edgeDial(t, px.Addr)
	const size, part = 4 << 20, 100_000
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n"+strings.Repeat("u", part))
	select {
	case <-reset:
	case <-time.After(5 * time.Second):
		t.Fatal("the first backend never got the body: not the case under test")
	}
	go io.WriteString(c, strings.Repeat("v", size-part)) // fails once the proxy gives up
	resp, body := edgeRead(t, bufio.NewReader(c), "POST")
	if resp.StatusCode != 502 {
		t.Fatalf("status %d %q, want 502", resp.StatusCode, body)
	}
	for i := range 4 {
		if resp, body := pathDo(t, px, "GET", "h", "/", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("GET %d: %d %q, want 200 from the good backend", i+1, resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 {
		t.Errorf("backend that reset got %d requests, want 1 (then ejected)", hits)
	}
	if good.Hits.Load() != 4 {
		t.Errorf("good backend got %d of the 4 GETs", good.Hits.Load())
	}
	if l := logs.String(); strings.Contains(l, "client aborted") || !strings.Contains(l, "status=502") {
		t.Errorf("log should blame the backend with a 502, not the client:\n%s", l)
	}
}

// TestStreamedUploadOverMaxBodyBytesIsTheClients: a chunked upload too
// large to be held for a retry streams to the backend until it crosses
// limits.max_body_bytes; the client gets 413, the log says the body was
// over the limit with that status (not that the client aborted with a
// 400), and the backend is not blamed.
func TestStreamedUploadOverMaxBodyBytesIsTheClients(t *testing.T) {
	o := edgeStartOrigin(t, nil)
	logs := &abortLog{}
	px := pathStartProxy(t, &configs.Config{
		Services:      []configs.Service{pathService("", pathLoc("/", o.URL))},
		PassiveHealth: configs.PassiveHealth{FailureThreshold: 1, Backoff: configs.Duration(time.Minute)},
		Limits:        configs.Limits{MaxBodyBytes: 100_000},
	}, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c := edgeDial(t, px.Addr)
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := "4000\r\n" + strings.Repeat("u", 0x4000) + "\r\n"
	for range 13 { // 208 KiB
		if _, err := io.WriteString(c, chunk); err != nil {
			break // the proxy answered and closed
		}
	}
	resp, _ := edgeRead(t, bufio.NewReader(c), "POST")
	if resp.StatusCode != 413 {
		t.Fatalf("upload over the limit answered %d, want 413", resp.StatusCode)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "max_body_bytes"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line about the limit:\n%s", logs)
		}
	}
	if l := logs.String(); !strings.Contains(l, "status=413") || strings.Contains(l, "status=400") || strings.Contains(l, "proxy error") {
		t.Errorf("log should give the 413 and blame no backend:\n%s", l)
	}
	if resp, body := pathDo(t, px, "GET", "h", "/", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("GET after the upload: %d %q, want 200", resp.StatusCode, body)
	}
}

// TestBackendAnsweringAnUploadEarlyIsPassedOn: a backend that refuses an
// upload from its head alone (413 here) and closes, with most of the body
// unread, breaks the proxy's write of the body. The answer it sent is
// still what the client gets, not a 502, whether the backend closed at
// once or the unread body made its close a reset; and with
// failure_threshold 1 the backend stays in rotation: it answered.
func TestBackendAnsweringAnUploadEarlyIsPassedOn(t *testing.T) {
	for _, linger := range []time.Duration{0, 100 * time.Millisecond} {
		o := pathRawOrigin(t, func(c net.Conn) {
			req, err := pathReadHead(bufio.NewReader(c))
			if err != nil {
				return
			}
			if req.Method == "GET" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				return
			}
			io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
			time.Sleep(linger) // the body keeps coming: closing then resets
		})
		px, logs := abortProxy(t, 1, o)
		for _, chunked := range []bool{false, true} {
			body := io.Reader(bytes.NewReader(make([]byte, 8<<20)))
			if chunked {
				body = io.MultiReader(body) // no length: Go's client sends it chunked
			}
			resp, got := pathDo(t, px, "POST", "h", "/up", body, nil)
			if resp.StatusCode != 413 || got != "too large" {
				t.Errorf("linger %v, chunked %v: %d %q, want the backend's 413", linger, chunked, resp.StatusCode, got)
			}
		}
		if resp, got := pathDo(t, px, "GET", "h", "/", nil, nil); resp.StatusCode != 200 {
			t.Errorf("linger %v: GET after the refused uploads: %d %q, want 200", linger, resp.StatusCode, got)
		}
		if l := logs.String(); strings.Contains(l, "proxy error") {
			t.Errorf("linger %v: the backend's answer was logged as its failure:\n%s", linger, l)
		}
	}
}
