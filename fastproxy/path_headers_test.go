package fastproxy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/spillway-lb/spillway/configs"
)

func TestHeaderRulesApplied(t *testing.T) {
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Got-Added", r.Header.Get("X-Added"))
		w.Header().Set("X-Got-Secret", r.Header.Get("X-Secret"))
		w.Header().Set("X-Powered-By", "origin")
		w.Header().Set("X-Replace", "origin")
	})
	svc := pathService("", pathLoc("/", o.URL))
	svc.Headers = &configs.Headers{
		RequestHeaders:        map[string]string{"X-Added": "by-proxy"},
		RemoveRequestHeaders:  []string{"X-Secret"},
		ResponseHeaders:       map[string]string{"X-Replace": "proxy", "X-Frame-Options": "DENY"},
		RemoveResponseHeaders: []string{"X-Powered-By"},
	}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{svc}}, Options{})
	resp, _ := pathDo(t, px, "GET", "h", "/", nil, map[string]string{"X-Secret": "s3"})
	want := map[string]string{
		"X-Got-Added": "by-proxy", "X-Got-Secret": "", "X-Powered-By": "",
		"X-Replace": "proxy", "X-Frame-Options": "DENY",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestXForwardedHeaders(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	tests := []struct {
		desc      string
		trusted   []string
		sent      map[string]string
		wantFor   string
		wantProto string
		wantHost  string
	}{
		{"no trusted_proxies: appended to the client's", nil,
			map[string]string{"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"},
			"1.2.3.4, 127.0.0.1", "http", "front.example"},
		{"no header sent", nil, nil, "127.0.0.1", "http", "front.example"},
		{"untrusted peer: dropped first", []string{"10.0.0.0/8"},
			map[string]string{"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil"},
			"127.0.0.1", "http", "front.example"},
		{"trusted peer: kept", []string{"127.0.0.0/8"},
			map[string]string{"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "outer.example"},
			"1.2.3.4, 127.0.0.1", "https", "outer.example"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			px := pathStartProxy(t, &configs.Config{TrustedProxies: tc.trusted,
				Services: []configs.Service{pathService("", pathLoc("/", o.URL))}}, Options{})
			_, body := pathDo(t, px, "GET", "front.example", "/", nil, tc.sent)
			h := pathSeenBy(t, body).Header
			if got := h.Get("X-Forwarded-For"); got != tc.wantFor {
				t.Errorf("X-Forwarded-For %q, want %q", got, tc.wantFor)
			}
			if got := h.Get("X-Forwarded-Proto"); got != tc.wantProto {
				t.Errorf("X-Forwarded-Proto %q, want %q", got, tc.wantProto)
			}
			if got := h.Get("X-Forwarded-Host"); got != tc.wantHost {
				t.Errorf("X-Forwarded-Host %q, want %q", got, tc.wantHost)
			}
		})
	}
}

func TestClientAddrWalksForwardedForFromTheRight(t *testing.T) {
	trusted, err := parseTrusted([]string{"10.0.0.0/8", "192.168.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	peerTrusted, peerOther := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("203.0.113.9")
	tests := []struct {
		desc string
		nets trustedNets
		peer netip.Addr
		xff  string
		want string
	}{
		{"no trusted_proxies: the peer", nil, peerTrusted, "1.1.1.1", "10.0.0.1"},
		{"untrusted peer: the peer", trusted, peerOther, "1.1.1.1", "203.0.113.9"},
		{"first untrusted from the right", trusted, peerTrusted, "1.1.1.1, 2.2.2.2, 192.168.1.1, 10.1.1.1", "2.2.2.2"},
		{"all trusted: the leftmost", trusted, peerTrusted, "10.9.9.9,192.168.1.1", "10.9.9.9"},
		{"garbage stops the walk", trusted, peerTrusted, "1.1.1.1, junk, 10.2.2.2", "10.2.2.2"},
		{"no header: the peer", trusted, peerTrusted, "", "10.0.0.1"},
		{"IPv6 entry", trusted, peerTrusted, "2001:db8::1", "2001:db8::1"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := tc.nets.clientAddr(tc.peer, []byte(tc.xff)); got.String() != tc.want {
				t.Errorf("client %s, want %s", got, tc.want)
			}
		})
	}
}

func TestHopByHopStrippedBothWays(t *testing.T) {
	origin := pathRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := pathReadHead(br)
		if err != nil {
			return
		}
		// Report which request headers arrived, then send hop-by-hop ones back.
		var seen string
		for _, k := range []string{"Connection", "X-Secret", "Keep-Alive", "Te", "Upgrade", "Proxy-Authorization", "Proxy-Connection", "Trailer"} {
			if v := req.Header.Get(k); v != "" {
				seen += k + "=" + v + ";"
			}
		}
		body := fmt.Sprintf("seen=%s xff=%s", seen, req.Header.Get("X-Forwarded-For"))
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nConnection: X-Resp-Secret, keep-alive\r\nX-Resp-Secret: 1\r\n"+
			"Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nUpgrade: foo\r\nX-Kept: yes\r\n"+
			"Content-Length: %d\r\n\r\n%s", len(body), body)
	})
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/", origin))}}, Options{})
	resp := pathRaw(t, px.Addr, "GET / HTTP/1.1\r\nHost: h\r\n"+
		"Connection: keep-alive, X-Secret, X-Forwarded-For\r\nX-Secret: s\r\nX-Forwarded-For: 6.6.6.6\r\n"+
		"Keep-Alive: 300\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Authorization: Basic eA==\r\n"+
		"Proxy-Connection: keep-alive\r\n\r\n", "GET")[0]
	body, _ := readAllString(resp)
	if want := "seen= xff=127.0.0.1"; body != want {
		t.Errorf("origin saw %q, want %q (Connection must not delete the proxy's own X-Forwarded-For)", body, want)
	}
	for _, k := range []string{"X-Resp-Secret", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Connection"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("client got %s: %q", k, v)
		}
	}
	if resp.Header.Get("X-Kept") != "yes" {
		t.Errorf("end-to-end header lost")
	}
}

func TestClientConnectionCloseClosesOnlyTheClientSide(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	svc := pathService("", pathLoc("/", o.URL))
	svc.HTTPRedirect = false
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{svc}}, Options{})
	for _, target := range []string{"/forwarded", "/again"} {
		resp := pathRaw(t, px.Addr, "GET "+target+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "GET")[0]
		if !resp.Close {
			t.Errorf("%s: client connection not closed", target)
		}
		body, _ := readAllString(resp)
		if h := pathSeenBy(t, body).Header; h.Get("Connection") != "" {
			t.Errorf("backend got Connection %q", h.Get("Connection"))
		}
	}
}
