package fastproxy

import (
	"net/http"
	"testing"

	"github.com/spillway-lb/spillway/configs"
)

// TestHTTP10WithoutHostGetsTheBackendsHost: an HTTP/1.0 request without
// Host, as scanners send it, is forwarded with the backend URL's host and
// port as Host (as nginx sends its proxy_pass host) and answered by the
// backend; many of them never eject it. No X-Forwarded-Host is made up,
// and a client's own is not passed on in its place.
func TestHTTP10WithoutHostGetsTheBackendsHost(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	px := connProxy(t, o.URL)
	for _, raw := range []string{
		"GET / HTTP/1.0\r\n\r\n",
		"GET /x?a=1 HTTP/1.0\r\nX-Forwarded-Host: evil.example\r\nUser-Agent: scanner\r\n\r\n",
	} {
		for i := range 5 {
			resp := pathRaw(t, px.Addr, raw, "GET")[0]
			body, _ := readAllString(resp)
			if resp.StatusCode != 200 {
				t.Fatalf("%q #%d: status %d %q, want 200 from the backend", raw, i+1, resp.StatusCode, body)
			}
			seen := pathSeenBy(t, body)
			if seen.Host != o.Addr {
				t.Errorf("%q #%d: backend got Host %q, want its own %q", raw, i+1, seen.Host, o.Addr)
			}
			if v := seen.Header.Get("X-Forwarded-Host"); v != "" {
				t.Errorf("%q #%d: backend got X-Forwarded-Host %q, want none", raw, i+1, v)
			}
		}
	}
	if n := o.Hits.Load(); n != 10 {
		t.Errorf("backend got %d of 10 requests", n)
	}
}

// TestHTTP10WithoutHostRetriedGetsTheNextBackendsHost: a retry on another
// backend carries that backend's host, not the first one's.
func TestHTTP10WithoutHostRetriedGetsTheNextBackendsHost(t *testing.T) {
	first := retryStartCloser(t, false)
	good := pathEchoOrigin(t, "good")
	px := retryProxy(t, configs.Retry{}, configs.PassiveHealth{}, first.URL, good.URL)
	resp := pathRaw(t, px.Addr, "GET / HTTP/1.0\r\n\r\n", "GET")[0]
	body, _ := readAllString(resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %q, want 200 from the retry", resp.StatusCode, body)
	}
	if first.Hits.Load() != 1 {
		t.Fatalf("first backend got %d requests: not the case under test", first.Hits.Load())
	}
	if seen := pathSeenBy(t, body); seen.Host != good.Addr {
		t.Errorf("retry reached the second backend with Host %q, want %q", seen.Host, good.Addr)
	}
}

// TestHTTP10WithoutHostGetsARelativeLocation: a backend's redirect naming
// itself cannot be rewritten to a Host the client never sent; the client
// gets the path alone, which RFC 9110 section 10.2.2 allows.
func TestHTTP10WithoutHostGetsARelativeLocation(t *testing.T) {
	var self string
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, self+"/login?next=%2F", http.StatusFound)
	})
	self = o.URL
	px := connProxy(t, o.URL)
	resp := pathRaw(t, px.Addr, "GET / HTTP/1.0\r\n\r\n", "GET")[0]
	if resp.StatusCode != 302 {
		t.Fatalf("status %d, want the backend's 302", resp.StatusCode)
	}
	if got := resp.Header.Get("Location"); got != "/login?next=%2F" {
		t.Errorf("Location %q, want /login?next=%%2F", got)
	}
}
