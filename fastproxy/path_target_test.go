package fastproxy

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/accesslog"
	"github.com/valyala/fasthttp"
)

// Dot segments are resolved before routing, and the backend gets the
// resolved path: "/public/../admin/x" is /admin/x for the proxy and for the
// backend alike, so it cannot be routed by /public/ and then served as
// /admin/x, nor leave the backend URL's own path. The query is kept byte
// for byte; the access log shows what the client sent.
func TestDotSegmentsAreResolvedBeforeRouting(t *testing.T) {
	public, admin, files := pathEchoOrigin(t, "public"), pathEchoOrigin(t, "admin"), pathEchoOrigin(t, "files")
	logPath := filepath.Join(t.TempDir(), "access.log")
	l, err := accesslog.Open(logPath, accesslog.FormatJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("",
		pathLoc("/public/", public.URL),
		pathLoc("/admin/", admin.URL),
		pathLoc("/static/", files.URL+"/files"),
	)}}, Options{AccessLog: l})

	cases := []struct {
		target       string
		code         int
		origin, want string
	}{
		{"/public/../admin/secret", 200, "admin", "/secret"},
		{"/public/%2e%2e/admin/secret", 200, "admin", "/secret"},
		{"/public/%2E%2e/admin/secret?q=/../x&r=%2e%2e", 200, "admin", "/secret?q=/../x&r=%2e%2e"},
		{"/admin/../public/x", 200, "public", "/x"},
		{"/public/./a/./b/..", 200, "public", "/a/"},
		{"/static/../../etc/passwd", 404, "", ""}, // no location holds /etc/
		{"/static/css/../app.css", 200, "files", "/files/app.css"},
		{"/static/..%2fadmin", 200, "files", "/files/..%2fadmin"}, // an encoded slash separates nothing
		{"/public/...", 200, "public", "/..."},
	}
	for _, c := range cases {
		resp := pathRaw(t, px.Addr, "GET "+c.target+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "GET")[0]
		if resp.StatusCode != c.code {
			t.Errorf("%s: status %d, want %d", c.target, resp.StatusCode, c.code)
			continue
		}
		if c.code != 200 {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		if s := pathSeenBy(t, string(body)); s.Origin != c.origin || s.RequestURI != c.want {
			t.Errorf("%s: %s got %q, want %s to get %q", c.target, s.Origin, s.RequestURI, c.origin, c.want)
		}
	}
	for i, line := range readAccess(t, l, logPath) {
		if line.URI != cases[i].target {
			t.Errorf("access log line %d: uri %q, want the client's %q", i, line.URI, cases[i].target)
		}
	}
}

// targetPlugins is a Plugins that puts its target in every request.
type targetPlugins struct{ target string }

func (p targetPlugins) Request(ctx *fasthttp.RequestCtx) (Exchange, bool) {
	ctx.Request.SetRequestURI(p.target)
	return nil, false
}

// A request-target a plugin sets is mapped by the location as the
// client's is (the location is not chosen again); one outside the
// location goes whole after the backend URL's path.
func TestPluginTargetIsMappedByTheLocation(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	for _, c := range []struct{ target, want string }{
		{"/api/changed?q=1", "/v2/changed?q=1"},
		{"/elsewhere?q=1", "/v2/elsewhere?q=1"},
		{"/api/x/../y", "/v2/y"},
		{"/api/orig?x=2", "/v2/orig?x=2"}, // unchanged
	} {
		px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", pathLoc("/api/", o.URL+"/v2"))}},
			Options{Plugins: targetPlugins{c.target}})
		resp, body := pathDo(t, px, "GET", "h", "/api/orig?x=2", nil, nil)
		if s := pathSeenBy(t, body); resp.StatusCode != 200 || s.RequestURI != c.want {
			t.Errorf("plugin target %s: %d, backend got %q, want %q", c.target, resp.StatusCode, s.RequestURI, c.want)
		}
	}
}
