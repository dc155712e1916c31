package fastproxy

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf/tlstest"
)

func TestRouteByHostAndLongestPrefix(t *testing.T) {
	a, api, b, def := pathEchoOrigin(t, "a"), pathEchoOrigin(t, "a-api"), pathEchoOrigin(t, "b"), pathEchoOrigin(t, "default")
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
		pathService("a.example", pathLoc("/", a.URL), pathLoc("/api/", api.URL), pathLoc("/api/v", a.URL)),
		pathService("B.Example", pathLoc("/", b.URL)),
		pathService("", pathLoc("/", def.URL)),
	}}, Options{})
	tests := []struct {
		desc, host, target, origin string
	}{
		{"exact host", "a.example", "/x", "a"},
		{"host case and port ignored", "A.EXAMPLE:8080", "/x", "a"},
		{"a fully qualified host (trailing dot)", "a.example.:8080", "/x", "a"},
		{"longest prefix wins", "a.example", "/api/users", "a-api"},
		{"location without slash matches itself", "a.example", "/api", "a-api"},
		{"longer prefix still", "a.example", "/api/v2", "a"},
		{"configured host in upper case", "b.example", "/", "b"},
		{"unknown host goes to the default service", "c.example", "/", "default"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			resp, body := pathDo(t, px, "GET", tc.host, tc.target, nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := pathSeenBy(t, body).Origin; got != tc.origin {
				t.Errorf("reached %q, want %q", got, tc.origin)
			}
		})
	}
}

// TestRouteWildcardHost: a "*.domain" service takes hosts of exactly one
// more label, case-insensitively and whatever the port; an exact host wins
// over it wherever it is listed, and other hosts go to the default.
func TestRouteWildcardHost(t *testing.T) {
	wild, api, deep, def := pathEchoOrigin(t, "wild"), pathEchoOrigin(t, "api"), pathEchoOrigin(t, "deep"), pathEchoOrigin(t, "default")
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
		pathService("*.Example.com", pathLoc("/", wild.URL)),
		pathService("api.example.com", pathLoc("/", api.URL)), // listed after the wildcard
		pathService("*.deep.example.com", pathLoc("/", deep.URL)),
		pathService("", pathLoc("/", def.URL)),
	}}, Options{})
	for _, tc := range []struct{ desc, host, origin string }{
		{"one label", "x.example.com", "wild"},
		{"case and port ignored", "X.EXAMPLE.COM:8443", "wild"},
		{"exact host wins over the wildcard", "API.example.com", "api"},
		{"two labels: only the deeper wildcard", "a.deep.example.com", "deep"},
		{"two labels under the shallow wildcard", "a.b.example.com", "default"},
		{"the bare domain", "example.com", "default"},
		{"a longer name ending alike", "xexample.com", "default"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			resp, body := pathDo(t, px, "GET", tc.host, "/", nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := pathSeenBy(t, body).Origin; got != tc.origin {
				t.Errorf("Host %s reached %q, want %q", tc.host, got, tc.origin)
			}
		})
	}
}

// TestRouteWildcardHostOverTLS: a request gets the wildcard service's
// certificate by SNI and is served by that same service, not the default.
func TestRouteWildcardHostOverTLS(t *testing.T) {
	wild, def := pathEchoOrigin(t, "wild"), pathEchoOrigin(t, "default")
	ws := pathService("*.example.com", pathLoc("/", wild.URL))
	cert, key := tlstest.Files(t, "*.example.com")
	ws.TLS = &configs.TLS{CertFile: cert, KeyFile: key}
	ds := pathService("", pathLoc("/", def.URL))
	cert, key = tlstest.Files(t, "default.test")
	ds.TLS = &configs.TLS{CertFile: cert, KeyFile: key}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{ds, ws}}, Options{})

	for _, tc := range []struct{ host, origin, certName string }{
		{"x.example.com", "wild", "*.example.com"},
		{"other.test", "default", "default.test"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{ServerName: tc.host, InsecureSkipVerify: true}}}
			defer c.CloseIdleConnections()
			req, _ := http.NewRequest("GET", "https://"+px.Addr+"/", nil)
			req.Host = tc.host
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := readAllString(resp)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d %q, %v", resp.StatusCode, body, err)
			}
			if got := resp.TLS.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != tc.certName {
				t.Errorf("certificate names %v, want [%s]", got, tc.certName)
			}
			if got := pathSeenBy(t, body).Origin; got != tc.origin {
				t.Errorf("reached %q, want %q", got, tc.origin)
			}
		})
	}
}

func TestRouteUnknownHostWithoutDefaultIs404(t *testing.T) {
	a := pathEchoOrigin(t, "a")
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
		pathService("a.example", pathLoc("/api/", a.URL)),
	}}, Options{})
	for _, tc := range []struct{ desc, host, target string }{
		{"unknown host", "z.example", "/api/x"},
		{"no location matches", "a.example", "/other"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			resp, _ := pathDo(t, px, "GET", tc.host, tc.target, nil, nil)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want 404", resp.StatusCode)
			}
			if a.Hits.Load() != 0 {
				t.Fatalf("origin was reached")
			}
		})
	}
}

func TestPathMappingAsTerraster(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	tests := []struct {
		desc, path, rewrite, backendPath, target, want string
	}{
		{"prefix stripped onto bare backend", "/api/", "", "", "/api/users", "/users"},
		{"prefix stripped onto backend path", "/api/", "", "/v2", "/api/users", "/v2/users"},
		{"backend path with trailing slash", "/api/", "", "/v2/", "/api/users", "/v2/users"},
		{"backend path equals location: nothing stripped", "/api/", "", "/api/", "/api/users", "/api/users"},
		{"rewrite replaces the prefix", "/api/", "/v1/", "", "/api/users", "/v1/users"},
		{"root location keeps the path", "/", "", "", "/a/b", "/a/b"},
		{"root location onto backend path", "/", "", "/base", "/a/b", "/base/a/b"},
		{"location itself maps to backend root", "/api/", "", "", "/api", "/"},
		{"query kept byte for byte", "/api/", "", "", "/api/q?b=%2f&a=1+2&&c=%ZZ;d", "/q?b=%2f&a=1+2&&c=%ZZ;d"},
		{"encoded path kept", "/api/", "", "", "/api/a%2Fb/..%2f", "/a%2Fb/..%2f"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			loc := pathLoc(tc.path, o.URL+tc.backendPath)
			loc.Rewrite = tc.rewrite
			px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", loc)}}, Options{})
			resp, body := pathDo(t, px, "GET", "Front.Example:8080", tc.target, nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			seen := pathSeenBy(t, body)
			if seen.RequestURI != tc.want {
				t.Errorf("backend got %q, want %q", seen.RequestURI, tc.want)
			}
			if seen.Host != "Front.Example:8080" {
				t.Errorf("backend got Host %q, want the client's", seen.Host)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	root := pathLoc("/", o.URL)
	root.Redirect = "/app/"
	secure := pathService("secure.example", pathLoc("/", o.URL))
	secure.HTTPRedirect = true
	secureAlt := pathService("alt.example", pathLoc("/", o.URL))
	secureAlt.HTTPRedirect, secureAlt.RedirectPort = true, 8443
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
		secure, secureAlt, pathService("", root),
	}}, Options{})
	tests := []struct {
		desc, host, target, want string
	}{
		{"http_redirect drops the port when 443", "secure.example:8080", "/a/b?x=1&y", "https://secure.example/a/b?x=1&y"},
		{"http_redirect uses redirect_port", "alt.example", "/p?q=%20", "https://alt.example:8443/p?q=%20"},
		{"location redirect on exactly /", "www.example", "/", "/app/"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			resp, _ := pathDo(t, px, "GET", tc.host, tc.target, nil, nil)
			if resp.StatusCode != http.StatusMovedPermanently {
				t.Fatalf("status %d, want 301", resp.StatusCode)
			}
			if got := resp.Header.Get("Location"); got != tc.want {
				t.Errorf("Location %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("location redirect only on exactly /", func(t *testing.T) {
		resp, body := pathDo(t, px, "GET", "www.example", "/other", nil, nil)
		if resp.StatusCode != 200 || pathSeenBy(t, body).RequestURI != "/other" {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
}

func TestLocationHeaderRewrittenToClient(t *testing.T) {
	var self string
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("to")
		if !strings.HasPrefix(to, "http") {
			to = self + to
		}
		w.Header().Set("Location", to)
		w.WriteHeader(http.StatusFound)
	})
	self = o.URL
	loc := pathLoc("/api/", o.URL+"/v2")
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", loc)}}, Options{})
	tests := []struct{ desc, to, want string }{
		{"backend path mapped back to the prefix", "/v2/login?x=1", "http://front.example/api/login?x=1"},
		{"path outside the backend path keeps its path", "/other", "http://front.example/other"},
		{"other hosts left alone", "http://elsewhere.example/v2/x", "http://elsewhere.example/v2/x"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			resp, _ := pathDo(t, px, "GET", "front.example", "/api/x?to="+tc.to, nil, nil)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Location"); got != tc.want {
				t.Errorf("Location %q, want %q", got, tc.want)
			}
		})
	}
}
