package pluginhost_test

import (
	"testing"
)

// A plugin that changes req.URL changes what the backend is asked for:
// the change is written back and forwarded, not replaced by the client's
// request-target.
func TestPluginChangedURLReachesTheBackend(t *testing.T) {
	t.Parallel()
	query := "via=plugin&x=%2F"
	cases := []struct {
		desc, path string
		request    map[string]any
		want       string
	}{
		{"path and query", "/orig?a=1", map[string]any{"path": "/rewritten/by-plugin", "query": query}, "/rewritten/by-plugin?" + query},
		{"query only", "/keep?a=1", map[string]any{"query": query}, "/keep?" + query},
		{"dot segments a plugin wrote are resolved", "/orig", map[string]any{"path": "/a/b/../c"}, "/a/c"},
		{"unchanged", "/same?a=1", map[string]any{}, "/same?a=1"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			h := load(t, pluginDir(t, "probe"), settings("probe", 0, map[string]any{"request": c.request}), nil)
			got := startRig(t, h).get(t, c.path)
			if got.status != 200 || got.header.Get("X-Seen-Target") != c.want {
				t.Errorf("got %d, origin asked for %q; want 200 and %q", got.status, got.header.Get("X-Seen-Target"), c.want)
			}
		})
	}
}

// A plugin sees the request's path with its dot segments resolved, the
// path the proxy routes on and forwards: a check it makes on the path
// holds for what the backend serves.
func TestPluginSeesThePathResolved(t *testing.T) {
	t.Parallel()
	h := load(t, pluginDir(t, "probe"), settings("probe", 0, nil), nil)
	got := startRig(t, h).get(t, "/public/../admin/%2e/x")
	if v := got.header.Get("X-Probe-Ctx"); v != "from-request-/admin/x" {
		t.Errorf("plugin saw path %q, want from-request-/admin/x", v)
	}
	if v := got.header.Get("X-Seen-Target"); v != "/admin/x" {
		t.Errorf("origin asked for %q, want /admin/x", v)
	}
}
