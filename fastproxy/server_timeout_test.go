package fastproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// edgeTimeout is every client timeout in these tests; transfers that keep
// moving pause edgeStep at most, a tenth of it, and last several times it.
// The margin is wide because CI runs these next to other packages' tests
// on two cores, where a 100ms sleep can take several times that.
const (
	edgeTimeout = time.Second
	edgeStep    = 100 * time.Millisecond
)

func edgeShortTimeouts(c *configs.Config) {
	d := configs.Duration(edgeTimeout)
	c.Timeouts = configs.Timeouts{ClientHeader: d, ClientRead: d, ClientWrite: d, ClientIdle: d}
}

// edgeSinceWithin fails unless the time since start is in [lo, hi].
func edgeSinceWithin(t *testing.T, what string, start time.Time, lo, hi time.Duration) {
	t.Helper()
	if d := time.Since(start); d < lo || d > hi {
		t.Errorf("%s after %v, want between %v and %v", what, d, lo, hi)
	}
}

// TestServerCutsSlowHead: a client that opens a connection and sends
// nothing, or dribbles its head, is cut off once client_header has passed
// since the connection opened, and nothing reaches the origin.
func TestServerCutsSlowHead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc    string
		dribble bool
	}{
		{"nothing sent", false},
		{"head dribbled a header at a time", true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			o := edgeStartOrigin(t, nil)
			s := edgeStart(t, edgeConfig(o.URL, edgeShortTimeouts), nil)
			start := time.Now()
			c := edgeDial(t, edgeAddr(t, s))
			if tc.dribble {
				go func() {
					io.WriteString(c, "GET /up HTTP/1.1\r\nHost: a.test\r\n")
					for i := 0; i < 40; i++ {
						time.Sleep(edgeStep)
						if _, err := fmt.Fprintf(c, "X-%d: v\r\n", i); err != nil {
							return
						}
					}
				}()
			}
			if !edgeClosedWithin(c, c, 3*time.Second) {
				t.Fatal("slow client not cut off")
			}
			edgeSinceWithin(t, "cut off", start, edgeTimeout-50*time.Millisecond, 3*time.Second)
			edgeExpectNothing(t, o)
		})
	}
}

// TestServerKeepsMovingUploads: request bodies that arrive slowly but
// steadily, for longer than client_header and client_read together, reach
// the origin whole.
func TestServerKeepsMovingUploads(t *testing.T) {
	t.Parallel()
	const pieces, size = 25, 256 // 2.5s of pieces: longer than client_header and client_read together
	piece := strings.Repeat("u", size)
	for _, tc := range []struct {
		desc       string
		head       string
		frame, end string
	}{
		{"content-length", "Content-Length: " + strconv.Itoa(pieces*size), "", ""},
		{"chunked", "Transfer-Encoding: chunked", "100\r\n%s\r\n", "0\r\n\r\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			o := edgeStartOrigin(t, nil)
			s := edgeStart(t, edgeConfig(o.URL, edgeShortTimeouts), nil)
			c := edgeDial(t, edgeAddr(t, s))
			start := time.Now()
			fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: a.test\r\n%s\r\n\r\n", tc.head)
			for range pieces {
				time.Sleep(edgeStep)
				if tc.frame != "" {
					fmt.Fprintf(c, tc.frame, piece)
				} else {
					io.WriteString(c, piece)
				}
			}
			io.WriteString(c, tc.end)
			resp, body := edgeRead(t, bufio.NewReader(c), "POST")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d %q, want 200", resp.StatusCode, body)
			}
			if got := o.Bodies(); len(got) != 1 || got[0] != pieces*size {
				t.Fatalf("origin bodies %v, want one of %d bytes", got, pieces*size)
			}
			edgeSinceWithin(t, "upload done", start, 2*edgeTimeout, 20*time.Second)
		})
	}
}

// TestServerCutsStalledUpload: a body that stops arriving is cut after
// client_read and answered 408, and the origin never gets a whole request.
func TestServerCutsStalledUpload(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, nil)
	s := edgeStart(t, edgeConfig(o.URL, edgeShortTimeouts), nil)
	c := edgeDial(t, edgeAddr(t, s))
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("u", 1000))
	start := time.Now()
	br := bufio.NewReader(c)
	if resp, body := edgeRead(t, br, "POST"); resp.StatusCode != 408 || !resp.Close {
		t.Fatalf("got %d %q close=%v, want 408 with close", resp.StatusCode, body, resp.Close)
	}
	if !edgeClosedWithin(c, br, 3*time.Second) {
		t.Fatal("stalled upload not cut off")
	}
	edgeSinceWithin(t, "cut off", start, edgeTimeout-50*time.Millisecond, 3*time.Second)
	if n := o.Requests(); n != 0 {
		t.Fatalf("origin read %d whole requests, want 0", n)
	}
}

// edgeBigBody is larger than what loopback socket buffers hold, so the
// proxy's writes block on the client's reading.
const edgeBigBody = 16 << 20

// edgeRespondBig answers with edgeBigBody bytes as fast as it can.
func edgeRespondBig(c net.Conn, _ *http.Request) {
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", edgeBigBody)
	buf := make([]byte, 64<<10)
	for sent := 0; sent < edgeBigBody; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// edgeBigDownload requests the big body with a small receive buffer and
// reads it in steps of step bytes, pausing between them; it returns how
// many body bytes arrived before the end or an error.
func edgeBigDownload(t *testing.T, addr string, firstPause time.Duration, step int, pause time.Duration) int64 {
	t.Helper()
	c := edgeDial(t, addr)
	c.(*net.TCPConn).SetReadBuffer(64 << 10)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a.test\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	time.Sleep(firstPause)
	var got int64
	for {
		n, err := io.CopyN(io.Discard, resp.Body, int64(step))
		got += n
		if err != nil {
			return got
		}
		time.Sleep(pause)
	}
}

// TestServerKeepsMovingDownload: a client that reads a large response
// slowly but steadily, for longer than client_write, gets all of it.
func TestServerKeepsMovingDownload(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, edgeRespondBig)
	s := edgeStart(t, edgeConfig(o.URL, edgeShortTimeouts), nil)
	start := time.Now()
	if got := edgeBigDownload(t, edgeAddr(t, s), 0, 512<<10, edgeStep); got != edgeBigBody {
		t.Fatalf("got %d bytes, want %d", got, edgeBigBody)
	}
	edgeSinceWithin(t, "download done", start, 2*edgeTimeout, 20*time.Second)
}

// TestServerCutsStalledDownload: a client that stops reading is cut off
// after client_write; it cannot get the rest of the body later.
func TestServerCutsStalledDownload(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, edgeRespondBig)
	s := edgeStart(t, edgeConfig(o.URL, edgeShortTimeouts), nil)
	if got := edgeBigDownload(t, edgeAddr(t, s), 4*edgeTimeout, 1<<20, 0); got >= edgeBigBody {
		t.Fatalf("stalled client still got all %d bytes", got)
	}
}

// TestServerCutsStalledDownloadWithPlugins: with plugins, the edge asks
// fasthttp for a write deadline on every request so that each answer is
// flushed (see Plugins); that request, and fasthttp's clearing of it, must
// not touch the edge's own deadline, or a client that stops reading right
// after an answer that armed it would hold its connection for ever.
func TestServerCutsStalledDownloadWithPlugins(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, edgeRespondBig)
	s := edgeStartWith(t, edgeConfig(o.URL, edgeShortTimeouts),
		Options{Logger: edgeTestLogger(), Plugins: &pathPlugins{}}, nil)
	c := edgeDial(t, edgeAddr(t, s))
	c.(*net.TCPConn).SetReadBuffer(64 << 10)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	// Pipelined: the second answer starts right after the first one's last
	// write armed the deadline.
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a.test\r\n\r\nGET /big HTTP/1.1\r\nHost: a.test\r\n\r\n")
	br := bufio.NewReader(c)
	var got int64
	for i := range 2 {
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
		if i == 1 {
			time.Sleep(4 * edgeTimeout)
		}
		got, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if got >= edgeBigBody {
		t.Fatalf("stalled client still got all %d bytes of the second answer", got)
	}
}

// TestServerClosesIdleKeepAlive: a kept-alive connection with no next
// request is closed after client_idle, counted from the last response.
func TestServerClosesIdleKeepAlive(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, nil)
	s := edgeStart(t, edgeConfig(o.URL, edgeShortTimeouts), nil)
	c := edgeDial(t, edgeAddr(t, s))
	br := bufio.NewReader(c)
	for range 2 { // the second request shows the first left it usable
		io.WriteString(c, "GET /up HTTP/1.1\r\nHost: a.test\r\n\r\n")
		if resp, body := edgeRead(t, br, "GET"); resp.StatusCode != 200 || resp.Close {
			t.Fatalf("got %d %q close=%v, want a kept-alive 200", resp.StatusCode, body, resp.Close)
		}
	}
	start := time.Now()
	if !edgeClosedWithin(c, br, 3*time.Second) {
		t.Fatal("idle connection not closed")
	}
	edgeSinceWithin(t, "closed", start, edgeTimeout-50*time.Millisecond, 3*time.Second)
}
