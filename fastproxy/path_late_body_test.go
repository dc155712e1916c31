package fastproxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// A backend that sends its head and only later its body (a long poll,
// server-sent events, a slow report) has the head, and each piece of the
// body, reach the client as they come, over HTTP/1.1 and to an HTTP/1.0
// client alike; fasthttp alone would hold the head until the first body
// bytes.
func TestHeadAndEventsAreNotHeldForTheRestOfTheBody(t *testing.T) {
	gates := make(chan chan struct{}, 1)
	origin, _ := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		gate := <-gates
		switch req.URL.Path {
		case "/sized":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nX-Late: yes\r\n\r\n")
			<-gate
			io.WriteString(c, strings.Repeat("s", 100000))
		case "/events":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
			time.Sleep(20 * time.Millisecond)
			io.WriteString(c, "c\r\ndata: first\n\r\n")
			<-gate
			io.WriteString(c, "c\r\ndata: last!\n\r\n0\r\n\r\n")
		}
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}}, Options{})

	for _, tc := range []struct{ req, early, end string }{
		{"GET /sized HTTP/1.1\r\nHost: h\r\n\r\n", "X-Late: yes", strings.Repeat("s", 100000)},
		{"GET /events HTTP/1.1\r\nHost: h\r\n\r\n", "data: first", "0\r\n\r\n"},
		{"GET /events HTTP/1.0\r\nHost: h\r\n\r\n", "data: first", "data: last!\n"},
	} {
		gate := make(chan struct{})
		gates <- gate
		c := edgeDial(t, px.Addr)
		io.WriteString(c, tc.req)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, err := readUntil(c, tc.early)
		close(gate) // the backend may go on
		if err != nil {
			t.Errorf("%q: before the backend went on, the client had %q (%v); want it to have %q", tc.req, got, err, tc.early)
			c.Close()
			continue
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, err := readUntil(c, tc.end)
		if err != nil || !bytes.HasSuffix(rest, []byte(tc.end)) {
			t.Errorf("%q: answer ended %q (%v); want it to end %q", tc.req, rest[max(0, len(rest)-40):], err, tc.end)
		}
		c.Close()
	}
}

// A backend that sends a head and closes before the first body byte
// leaves the client that status and a body it can tell is short, not an
// empty reply.
func TestBackendClosingAfterItsHeadLeavesTheClientTheStatus(t *testing.T) {
	origin, _ := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		switch req.URL.Path {
		case "/sized":
			io.WriteString(c, "HTTP/1.1 203 Non-Authoritative Information\r\nContent-Length: 100000\r\n\r\n")
		case "/chunked":
			io.WriteString(c, "HTTP/1.1 203 Non-Authoritative Information\r\nTransfer-Encoding: chunked\r\n\r\n")
		}
		c.Close()
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}}, Options{})
	for _, path := range []string{"/sized", "/chunked"} {
		resp, err := pathClient().Get("http://" + px.Addr + path)
		if err != nil {
			t.Errorf("%s: %v; want the backend's status", path, err)
			continue
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 203 || n != 0 || err == nil {
			t.Errorf("%s: %d with %d bytes, err %v; want 203, no bytes and an error", path, resp.StatusCode, n, err)
		}
	}
}

// readUntil reads from c until what it read holds want, the deadline
// passes or c ends.
func readUntil(c net.Conn, want string) ([]byte, error) {
	var got []byte
	br := bufio.NewReader(c)
	buf := make([]byte, 32<<10)
	for !bytes.Contains(got, []byte(want)) {
		n, err := br.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil && !bytes.Contains(got, []byte(want)) {
			return got, err
		}
	}
	return got, nil
}
