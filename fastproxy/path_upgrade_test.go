package fastproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf/tlstest"
	"github.com/valyala/fasthttp"
)

// wsOrigin is a WebSocket server as far as the handshake goes: it answers
// an upgrade with 101 and the Sec-WebSocket-Accept of RFC 6455, sends
// "hello\n", then echoes what it reads (or pushes, see push) until the
// client closes. The bytes after the handshake are opaque to the proxy, so
// no framing is needed to test the tunnel.
type wsOrigin struct {
	mu      sync.Mutex
	headers []http.Header
	// push, when set, makes the origin send it every pushEvery instead of
	// echoing, pushN times, then fall silent until the client closes.
	push      string
	pushEvery time.Duration
	pushN     int
	// ended gets one value per tunnel the origin saw end.
	ended chan struct{}
}

func newWSOrigin() *wsOrigin { return &wsOrigin{ended: make(chan struct{}, 16)} }

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func (o *wsOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.headers = append(o.headers, r.Header.Clone())
	o.mu.Unlock()
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		w.WriteHeader(http.StatusUpgradeRequired)
		io.WriteString(w, "websocket only")
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer func() { c.Close(); o.ended <- struct{}{} }()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + wsAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\nhello\n")
	brw.Flush()
	if o.push != "" {
		for range o.pushN {
			time.Sleep(o.pushEvery)
			if _, err := c.Write([]byte(o.push)); err != nil {
				return
			}
		}
		io.Copy(io.Discard, brw) // silent until the client goes
		return
	}
	io.Copy(c, brw) // echo, the bytes the client sent with its head first
}

func (o *wsOrigin) seen(t *testing.T) http.Header {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.headers) == 0 {
		t.Fatal("the origin saw no request")
	}
	return o.headers[len(o.headers)-1]
}

// waitEnded waits for the origin to see a tunnel end.
func (o *wsOrigin) waitEnded(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-o.ended:
	case <-time.After(d):
		t.Fatalf("the origin's side of the tunnel still open after %v", d)
	}
}

const wsKey = "dGhlIHNhbXBsZSBub25jZQ=="

// wsHandshake sends an upgrade request on c, followed at once by early,
// and reads the answer's head.
func wsHandshake(t *testing.T, c net.Conn, early string) (*http.Response, *bufio.Reader) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(c, "GET /chat?room=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"+
		"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+wsKey+"\r\n\r\n"+early)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, br
}

func readN(t *testing.T, r io.Reader, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return string(b)
}

// checkEcho checks the tunnel both ways: the origin's greeting, the bytes
// sent with the head, and 1 MiB each way at once.
func checkEcho(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	if got := readN(t, br, len("hello\nearly")); got != "hello\nearly" {
		t.Fatalf("read %q, want the greeting and the early bytes echoed", got)
	}
	big := make([]byte, 1<<20)
	rand.Read(big)
	werr := make(chan error, 1)
	go func() { _, err := c.Write(big); werr <- err }()
	back := make([]byte, len(big))
	if _, err := io.ReadFull(br, back); err != nil {
		t.Fatalf("echo of 1 MiB: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, big) {
		t.Fatal("the echoed 1 MiB differs")
	}
}

func TestUpgradeTunnelsWebSocket(t *testing.T) {
	o := newWSOrigin()
	plain := pathStartOrigin(t, o.ServeHTTP)
	tlsOrigin := httptest.NewTLSServer(o)
	t.Cleanup(tlsOrigin.Close)
	cert, key := tlstest.Files(t, "127.0.0.1", "front.example")
	for _, tc := range []struct {
		desc         string
		backend      configs.Backend
		tlsListener  bool
		wantForProto string
	}{
		{"plain", configs.Backend{URL: plain.URL}, false, "http"},
		{"TLS listener, TLS backend", configs.Backend{URL: tlsOrigin.URL, SkipTLSVerify: true}, true, "https"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			svc := pathService("", configs.Location{Path: "/", Backends: []configs.Backend{tc.backend}})
			if tc.tlsListener {
				svc.TLS = &configs.TLS{CertFile: cert, KeyFile: key}
			}
			px := pathStartProxy(t, &configs.Config{Services: []configs.Service{svc}}, Options{})
			var c net.Conn
			c = edgeDial(t, px.Addr)
			if tc.tlsListener {
				tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
				c = tc
			}
			resp, br := wsHandshake(t, c, "early")
			if resp.StatusCode != http.StatusSwitchingProtocols ||
				resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Connection") != "Upgrade" ||
				resp.Header.Get("Sec-Websocket-Accept") != wsAccept(wsKey) {
				t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
			}
			if resp.Header.Get("Content-Length") != "" || resp.Header.Get("Transfer-Encoding") != "" {
				t.Errorf("a 101 announces a body: %v", resp.Header)
			}
			h := o.seen(t)
			if h.Get("Upgrade") != "websocket" || h.Get("Connection") != "Upgrade" ||
				h.Get("Sec-Websocket-Key") != wsKey || h.Get("X-Forwarded-Proto") != tc.wantForProto ||
				h.Get("X-Forwarded-For") != "127.0.0.1" {
				t.Errorf("the origin got %v", h)
			}
			checkEcho(t, c, br)
			c.Close()
			o.waitEnded(t, 5*time.Second)
		})
	}
}

// A backend that declines the upgrade answers like any request, and the
// client's connection stays a keep-alive HTTP connection.
func TestUpgradeDeclinedIsAnOrdinaryAnswer(t *testing.T) {
	o := newWSOrigin()
	origin := pathStartOrigin(t, o.ServeHTTP)
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin.URL))}}, Options{})
	c := edgeDial(t, px.Addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
	br := bufio.NewReader(c)
	resp, body := edgeRead(t, br, "GET")
	if resp.StatusCode != http.StatusUpgradeRequired || body != "websocket only" {
		t.Fatalf("answer %d %q", resp.StatusCode, body)
	}
	if h := o.seen(t); h.Get("Upgrade") != "h2c" {
		t.Errorf("the origin got Upgrade %q", h.Get("Upgrade"))
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := edgeRead(t, br, "GET"); resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("second request on the connection: %d", resp.StatusCode)
	}
	if h := o.seen(t); h.Get("Upgrade") != "" || h.Get("Connection") != "" {
		t.Errorf("an ordinary request reached the origin with %v", h)
	}
}

// A 101 the request did not ask for, or to another protocol than asked,
// is 502, and the connection it came on is never used again.
func TestUnaskedSwitchIs502(t *testing.T) {
	origin, conns := pathCountingOrigin(t, func(c net.Conn, req *http.Request) {
		if req.URL.Path == "/switch" {
			// As if the forged answer were the next request's.
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"+
				"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}}, Options{})
	c := edgeDial(t, px.Addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, req := range []string{
		"GET /switch HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /switch HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	} {
		io.WriteString(c, req)
		if resp, _ := edgeRead(t, br, "GET"); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("%q: status %d, want 502", req, resp.StatusCode)
		}
		io.WriteString(c, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, body := edgeRead(t, br, "GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("after %q: %d %q (a switched connection was reused)", req, resp.StatusCode, body)
		}
	}
	if n := conns(); n != 3 {
		t.Errorf("the origin saw %d connections, want 3 (one per switch, one for the rest)", n)
	}
}

// Per-side timeouts only bound each wait: a tunnel whose origin pushes
// while the client never speaks outlives client_read and backend_response,
// and one that nothing crosses is closed after tunnel_idle.
func TestTunnelIdle(t *testing.T) {
	o := newWSOrigin()
	o.push, o.pushEvery, o.pushN = "tick\n", 100*time.Millisecond, 8
	origin := pathStartOrigin(t, o.ServeHTTP)
	cfg := &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin.URL))}}
	cfg.Timeouts.ClientRead = configs.Duration(150 * time.Millisecond)
	cfg.Timeouts.BackendResponse = configs.Duration(150 * time.Millisecond)
	cfg.Timeouts.TunnelIdle = configs.Duration(400 * time.Millisecond)
	px := pathStartProxy(t, cfg, Options{})
	c := edgeDial(t, px.Addr)
	resp, br := wsHandshake(t, c, "")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	readN(t, br, len("hello\n"))
	for i := range o.pushN {
		if got := readN(t, br, len(o.push)); got != o.push {
			t.Fatalf("push %d: %q", i, got)
		}
	}
	quiet := time.Now()
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the origin sent more than it pushed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the idle tunnel was not closed")
	}
	if d := time.Since(quiet); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("the idle tunnel closed after %v, want about 400ms", d)
	}
	o.waitEnded(t, 5*time.Second)
}

// Shutdown waits for an open tunnel as for a request in flight and closes
// it when the grace period ends; one that ends earlier lets it return.
func TestShutdownWaitsForTunnels(t *testing.T) {
	o := newWSOrigin()
	origin := pathStartOrigin(t, o.ServeHTTP)
	cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{pathService("", pathLoc("/", origin.URL))}}
	cfg.Services[0].Port = 0
	for _, tc := range []struct {
		desc     string
		hangUpIn time.Duration // 0: the client keeps the tunnel open
		grace    time.Duration
		wantErr  bool
	}{
		{"cut at the end of the grace period", 0, 400 * time.Millisecond, true},
		{"ended within the grace period", 200 * time.Millisecond, 5 * time.Second, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			srv, err := New(cfg, Options{Logger: edgeTestLogger()})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			c := edgeDial(t, srv.Addrs()[0].String())
			resp, br := wsHandshake(t, c, "early")
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			readN(t, br, len("hello\nearly"))
			if tc.hangUpIn > 0 {
				time.AfterFunc(tc.hangUpIn, func() { c.Close() })
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.grace)
			defer cancel()
			start := time.Now()
			err = srv.Shutdown(ctx)
			took := time.Since(start)
			if tc.wantErr {
				if !errors.Is(err, context.DeadlineExceeded) || took < tc.grace {
					t.Errorf("Shutdown returned %v after %v, want the grace period's end", err, took)
				}
				if !edgeClosedWithin(c, br, 2*time.Second) {
					t.Error("the client's side of the tunnel still open after shutdown")
				}
			} else if err != nil || took > 2*time.Second {
				t.Errorf("Shutdown returned %v after %v", err, took)
			} else if took < tc.hangUpIn {
				t.Errorf("Shutdown returned after %v, before the tunnel ended", took)
			}
			o.waitEnded(t, 5*time.Second)
		})
	}
}

// Plugins see an upgrade request as any other: the request phase may
// refuse it before a backend is contacted, and the response phase runs on
// the 101, whose headers it may add to.
func TestPluginsRunOnUpgrades(t *testing.T) {
	for _, answer := range []bool{false, true} {
		o := newWSOrigin()
		origin := pathStartOrigin(t, o.ServeHTTP)
		pp := &pathPlugins{answer: answer}
		px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin.URL))}}, Options{Plugins: pp})
		c := edgeDial(t, px.Addr)
		resp, br := wsHandshake(t, c, "early")
		if answer {
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusTeapot || string(body) != "from plugin" {
				t.Fatalf("refused upgrade: %d %q", resp.StatusCode, body)
			}
			o.mu.Lock()
			n := len(o.headers)
			o.mu.Unlock()
			if n != 0 {
				t.Errorf("the origin was contacted for a refused upgrade")
			}
			continue
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Plugin-Response") != "on" {
			t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
		}
		if h := o.seen(t); h.Get("X-Plugin") != "on" || h.Get("Upgrade") != "websocket" {
			t.Errorf("the origin got %v", h)
		}
		checkEcho(t, c, br)
		c.Close()
		o.waitEnded(t, 5*time.Second)
		pp.mu.Lock()
		events := strings.Join(pp.events, "; ")
		pp.mu.Unlock()
		if !strings.Contains(events, "response keepalive=") {
			t.Errorf("events %s: no response phase", events)
		}
	}
}

// An open tunnel counts against its backend until it ends, so
// least-connections sends other requests elsewhere meanwhile.
func TestTunnelCountsAgainstItsBackend(t *testing.T) {
	a, b := newWSOrigin(), newWSOrigin()
	oa, ob := pathStartOrigin(t, a.ServeHTTP), pathStartOrigin(t, b.ServeHTTP)
	loc := pathLoc("/", oa.URL, ob.URL)
	loc.LBPolicy = "least-connections"
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", loc)}}, Options{})
	c := edgeDial(t, px.Addr)
	resp, br := wsHandshake(t, c, "early")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	readN(t, br, len("hello\nearly"))
	a.mu.Lock()
	tunnelToA := len(a.headers) == 1
	a.mu.Unlock()
	busy, free := a, b
	if !tunnelToA {
		busy, free = b, a
	}
	for range 4 {
		pathDo(t, px, "GET", "h", "/", nil, nil)
	}
	busy.mu.Lock()
	free.mu.Lock()
	nb, nf := len(busy.headers), len(free.headers)
	free.mu.Unlock()
	busy.mu.Unlock()
	if nb != 1 || nf != 4 {
		t.Errorf("with a tunnel open to one backend, it got %d requests and the other %d; want 1 and 4", nb, nf)
	}
	c.Close()
	busy.waitEnded(t, 5*time.Second)
}

// Header rules see the upgrade headers: removing Upgrade forwards the
// handshake as an ordinary request.
func TestHeaderRuleCanRefuseUpgrades(t *testing.T) {
	o := newWSOrigin()
	origin := pathStartOrigin(t, o.ServeHTTP)
	svc := pathService("", pathLoc("/", origin.URL))
	svc.Headers = &configs.Headers{RemoveRequestHeaders: []string{"Upgrade"}}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{svc}}, Options{})
	c := edgeDial(t, px.Addr)
	resp, _ := wsHandshake(t, c, "")
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want the origin's 426 to an ordinary request", resp.StatusCode)
	}
	if h := o.seen(t); h.Get("Upgrade") != "" {
		t.Errorf("the origin got Upgrade %q", h.Get("Upgrade"))
	}
}

// refuseSwitch is a Plugins whose response phase answers 403 in place of
// every answer, with a body of its own or none.
type refuseSwitch struct{ body bool }

func (p refuseSwitch) Request(*fasthttp.RequestCtx) (Exchange, bool) { return p, false }
func (p refuseSwitch) Release()                                      {}
func (p refuseSwitch) Response(ctx *fasthttp.RequestCtx) {
	ctx.Response.SetStatusCode(http.StatusForbidden)
	if p.body {
		ctx.Response.SetBodyString("denied")
	}
}

// A plugin that answers in the 101's place gets its answer sent, without
// the Upgrade pair, and the backend's switched connection is closed.
func TestPluginAnsweringInPlaceOfA101(t *testing.T) {
	for _, body := range []bool{true, false} {
		o := newWSOrigin()
		origin := pathStartOrigin(t, o.ServeHTTP)
		px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin.URL))}},
			Options{Plugins: refuseSwitch{body}})
		c := edgeDial(t, px.Addr)
		resp, _ := wsHandshake(t, c, "")
		got, _ := io.ReadAll(resp.Body)
		want := map[bool]string{true: "denied", false: ""}[body]
		if resp.StatusCode != http.StatusForbidden || string(got) != want ||
			resp.Header.Get("Upgrade") != "" || resp.Header.Get("Connection") == "Upgrade" {
			t.Fatalf("body %v: answer %d %v %q", body, resp.StatusCode, resp.Header, got)
		}
		o.waitEnded(t, 5*time.Second)
	}
}
