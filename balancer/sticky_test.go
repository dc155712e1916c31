package balancer

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serveSticky runs a fasthttp server on loopback that balances each
// request with p, answers the chosen backend's index and stamps the
// response, as the proxy does. It returns the server's URL.
func serveSticky(t *testing.T, p *Pool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		b, err := p.Pick(&Request{Ctx: ctx})
		if err != nil {
			ctx.Error(err.Error(), fasthttp.StatusServiceUnavailable)
			return
		}
		defer p.Done(b, Success, time.Millisecond)
		ctx.SetBodyString(strconv.Itoa(b.Index))
		p.Stamp(ctx, b)
	}}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String() + "/"
}

// get requests u with c and returns the backend index answered and the
// sticky cookie set by the response ("" when none).
func get(t *testing.T, c *http.Client, u string, cookie string) (backend, setCookie string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: DefaultStickyCookie, Value: cookie})
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == DefaultStickyCookie {
			if !ck.HttpOnly || ck.Path != "/" {
				t.Errorf("cookie %v: want HttpOnly and Path=/", ck)
			}
			setCookie = ck.Value
		}
	}
	return string(body), setCookie
}

func TestStickySessionCookieRoundTrip(t *testing.T) {
	p := mustPool(t, testBackends(1, 1, 1, 1), Options{Policy: "sticky-session"})
	u := serveSticky(t, p)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 5 * time.Second}

	home, cookie := get(t, client, u, "")
	if cookie == "" {
		t.Fatal("first response set no sticky cookie")
	}
	// 128 bits of MAC in base64url, saying nothing of the backend.
	if len(cookie) != 22 || strings.Contains(cookie, "127.0.0.1") {
		t.Errorf("cookie value %q: want 22 opaque characters", cookie)
	}
	for range 20 {
		got, again := get(t, client, u, "")
		if got != home {
			t.Fatalf("request with cookie went to backend %s, want %s", got, home)
		}
		if again != "" {
			t.Fatalf("a valid cookie was set again: %q", again)
		}
	}
	// Clients without the cookie are still spread by the base policy.
	seen := map[string]bool{}
	for range 8 {
		b, _ := get(t, http.DefaultClient, u, "")
		seen[b] = true
	}
	if len(seen) != 4 {
		t.Errorf("cookieless clients reached %d of 4 backends", len(seen))
	}
}

func TestStickySessionRejectsForgedAndStaleCookies(t *testing.T) {
	p := mustPool(t, testBackends(1, 1, 1), Options{Policy: "sticky-session"})
	u := serveSticky(t, p)
	valid := string(p.Backends()[2].token)
	b2 := p.Backends()[2]
	cases := []struct{ desc, cookie string }{
		{"backend index", "2"},
		{"backend address", p.Backends()[2].Addr},
		{"valid value altered", valid[:len(valid)-1] + string(valid[len(valid)-1]^1)},
		{"valid value truncated", valid[:10]},
		{"stale: same backend under another process's key", string(cookieValue([]byte("an earlier process"), b2.raw, b2.Index))},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			// Fresh pools pick 0 first in weighted order; a forged cookie
			// for 2 must not change that, and must be replaced.
			counts := map[string]int{}
			for range 30 {
				b, set := get(t, http.DefaultClient, u, tc.cookie)
				counts[b]++
				if set == "" || set == tc.cookie {
					t.Fatalf("forged cookie %q not replaced (got %q)", tc.cookie, set)
				}
			}
			if counts["2"] == 30 {
				t.Errorf("forged cookie %q pinned backend 2", tc.cookie)
			}
		})
	}
	if b, set := get(t, http.DefaultClient, u, valid); b != "2" || set != "" {
		t.Errorf("valid cookie: backend %s, new cookie %q; want 2 and none", b, set)
	}
}

func TestStickySessionDownBackendFallsBackWithNewCookie(t *testing.T) {
	p := mustPool(t, testBackends(1, 1), Options{Policy: "sticky-session", StickyCookie: "lb"})
	u := serveSticky(t, p)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	home := get2(t, client, u)
	homeIdx, _ := strconv.Atoi(home)
	p.setDown(p.Backends()[homeIdx], true, nil)
	moved := get2(t, client, u)
	if moved == home {
		t.Fatalf("request stayed on down backend %s", home)
	}
	// The new cookie now pins the other backend, even after home is back.
	p.setDown(p.Backends()[homeIdx], false, nil)
	for range 5 {
		if got := get2(t, client, u); got != moved {
			t.Fatalf("after fallback went to %s, want %s", got, moved)
		}
	}
	base, _ := url.Parse(u)
	if cs := jar.Cookies(base); len(cs) != 1 || cs[0].Name != "lb" {
		t.Errorf("jar holds %v, want one cookie named lb", cs)
	}
}

// get2 requests u with c (whose jar carries any cookie) and returns the backend index.
func get2(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func TestStickySessionCookieSurvivesAPoolRebuiltByAReload(t *testing.T) {
	before := mustPool(t, testBackends(1, 1, 1), Options{Policy: "sticky-session"})
	after := mustPool(t, testBackends(1, 1, 1), Options{Policy: "sticky-session"})
	u := serveSticky(t, after)
	cookie := string(before.Backends()[1].token)
	for range 5 {
		if b, set := get(t, http.DefaultClient, u, cookie); b != "1" || set != "" {
			t.Fatalf("cookie from before the reload: backend %s, new cookie %q; want 1 and none", b, set)
		}
	}
}
