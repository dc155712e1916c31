package fastproxy

import (
	"bytes"
	"testing"

	"github.com/spillway-lb/spillway/configs"
)

// FuzzPathMapping checks, for any request-target, that routing and mapping
// never panic, and that a target that matches a location maps to an
// origin-form target ending in the query bytes as sent.
func FuzzPathMapping(f *testing.F) {
	for _, s := range []string{"/api/users?x=1", "/api", "/", "", "?q", "http://h/api/x?y", "//x", "/api/%2F?a=%ZZ"} {
		f.Add(s)
	}
	l := newLocation(&configsLocationForFuzz)
	backends := []*backend{
		{basePath: []byte("/v2")},
		{basePath: []byte("/api"), keepPath: true},
		{},
	}
	f.Fuzz(func(t *testing.T, uri string) {
		path, query := splitRequestURI([]byte(uri))
		if len(query) > 0 && (query[0] != '?' || !bytes.HasSuffix([]byte(uri), query)) {
			t.Fatalf("query %q not a suffix of %q", query, uri)
		}
		if (&service{locations: []*location{l}}).match(path) == nil {
			return // answered 404, never mapped
		}
		for _, b := range backends {
			out := l.appendTarget(nil, b, path, query)
			if len(out) == 0 || out[0] != '/' {
				t.Fatalf("target %q for %q does not start with /", out, uri)
			}
			if !bytes.HasSuffix(out, query) {
				t.Fatalf("target %q lost query %q", out, query)
			}
		}
		_ = stripPort([]byte(uri))
	})
}

var configsLocationForFuzz = configs.Location{Path: "/api/", Rewrite: "/v1/"}
