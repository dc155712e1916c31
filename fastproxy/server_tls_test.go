package fastproxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf/tlstest"
)

// edgeSelfSigned writes a self-signed certificate for host into a
// temporary directory and returns the TLS block naming its files.
func edgeSelfSigned(t *testing.T, host string) *configs.TLS {
	t.Helper()
	certFile, keyFile := tlstest.Files(t, host)
	return &configs.TLS{CertFile: certFile, KeyFile: keyFile}
}

// edgeTLSDial opens a TLS connection to addr for a.test.
func edgeTLSDial(t *testing.T, addr string) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 2 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: "a.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// TestServerServesTLS: a service with tls is served over TLS on its port,
// requests know they came over TLS (X-Forwarded-Proto: https), and the
// edge's framing rules and stall-based timeouts hold on the plaintext.
func TestServerServesTLS(t *testing.T) {
	t.Parallel()
	o := edgeStartOrigin(t, nil)
	cert := edgeSelfSigned(t, "a.test")
	s := edgeStart(t, edgeConfig(o.URL, func(c *configs.Config) {
		edgeShortTimeouts(c)
		c.Services[0].TLS = cert
	}), nil)
	addr := edgeAddr(t, s)

	t.Run("request", func(t *testing.T) {
		c := edgeTLSDial(t, addr)
		io.WriteString(c, "GET /secure HTTP/1.1\r\nHost: a.test\r\n\r\n")
		if resp, body := edgeRead(t, bufio.NewReader(c), "GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
		}
		if raw := o.Raw(); !bytes.Contains(raw, []byte("X-Forwarded-Proto: https\r\n")) {
			t.Fatalf("origin received %q, want X-Forwarded-Proto: https", raw)
		}
	})
	t.Run("ambiguous framing refused", func(t *testing.T) {
		c := edgeTLSDial(t, addr)
		io.WriteString(c, "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
		br := bufio.NewReader(c)
		if resp, body := edgeRead(t, br, "POST"); resp.StatusCode != 400 || !resp.Close {
			t.Fatalf("got %d %q close=%v, want 400 with close", resp.StatusCode, body, resp.Close)
		}
		if !edgeClosedWithin(c, br, 2*time.Second) {
			t.Fatal("connection still open after the refusal")
		}
	})
	t.Run("moving upload outlasts client_read", func(t *testing.T) {
		c := edgeTLSDial(t, addr)
		const pieces, size = 10, 100
		fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n\r\n", pieces*size)
		for range pieces {
			time.Sleep(edgeStep)
			io.WriteString(c, strings.Repeat("u", size))
		}
		if resp, body := edgeRead(t, bufio.NewReader(c), "POST"); resp.StatusCode != 200 {
			t.Fatalf("got %d %q, want 200", resp.StatusCode, body)
		}
	})
	t.Run("handshake never started is cut", func(t *testing.T) {
		c := edgeDial(t, addr)
		start := time.Now()
		if !edgeClosedWithin(c, c, 3*time.Second) {
			t.Fatal("silent connection not cut off")
		}
		edgeSinceWithin(t, "cut off", start, edgeTimeout-50*time.Millisecond, 3*time.Second)
	})
}

// TestServerTLSAnswersArriveWhole: answers of several TLS records, read
// whole (16 KiB) or streamed (1 MiB), reach the client byte for byte, with
// each write's records sent together (tlsBatchConn).
func TestServerTLSAnswersArriveWhole(t *testing.T) {
	t.Parallel()
	pattern := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + i>>9)
		}
		return b
	}
	o := edgeStartOrigin(t, func(c net.Conn, req *http.Request) {
		n := 16 << 10
		if req.URL.Path == "/big" {
			n = 1 << 20
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", n)
		c.Write(pattern(n))
	})
	cert := edgeSelfSigned(t, "a.test")
	s := edgeStart(t, edgeConfig(o.URL, func(c *configs.Config) { c.Services[0].TLS = cert }), nil)
	c := edgeTLSDial(t, edgeAddr(t, s))
	br := bufio.NewReader(c)
	for _, tc := range []struct {
		path string
		size int
	}{{"/16k", 16 << 10}, {"/big", 1 << 20}, {"/16k", 16 << 10}} {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n", tc.path)
		resp, body := edgeRead(t, br, "GET")
		if resp.StatusCode != 200 || body != string(pattern(tc.size)) {
			t.Fatalf("GET %s: status %d, %d bytes, want 200 with the %d-byte pattern", tc.path, resp.StatusCode, len(body), tc.size)
		}
	}
}
