package fastproxy

import (
	"strings"
	"testing"
)

func TestAppendCleanTarget(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/a/b", "/a/b"},
		{"/public/../admin/secret", "/admin/secret"},
		{"/public/%2e%2e/admin/secret", "/admin/secret"},
		{"/public/%2E./admin", "/admin"},
		{"/a/./b/.", "/a/b/"},
		{"/a/b/..", "/a/"},
		{"/..", "/"},
		{"/../../etc/passwd", "/etc/passwd"},
		{"/a//../b", "/a/b"},
		{"/a/.../b", "/a/.../b"},         // three dots is a name
		{"/a/..b/c", "/a/..b/c"},         // so is a name starting with dots
		{"/a/..%2fb", "/a/..%2fb"},       // an encoded slash is no separator
		{"/a/%2e%2e%2e", "/a/%2e%2e%2e"}, // three dots, encoded
		{"/x/./y?q=/../z&r=./", "/x/y?q=/../z&r=./"},
		{"http://h/a/../b?q", "/b?q"},
	}
	for _, c := range cases {
		if got := string(appendCleanTarget(nil, []byte(c.in))); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
		path, _ := splitRequestURI([]byte(c.in))
		if has := hasDotSegment(path); has != (c.want != c.in) && !strings.HasPrefix(c.in, "http:") {
			t.Errorf("%q: hasDotSegment = %v", c.in, has)
		}
	}
}

// FuzzCleanPath checks the resolution against RFC 3986's own algorithm
// (Section 5.2.4, below as written there) on paths of dots, slashes and
// names, and that a resolved path has no dot segment left.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/a/../b", "/./", "/a/b/..", "//..//.", "/.../..", "/a/./../b/.", "/a/%2e%2E/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#") {
			return
		}
		got := string(appendCleanPath(nil, []byte(p)))
		want := removeDotSegments(decodeDots(p))
		if decodeDots(got) != want {
			t.Errorf("%q: got %q, RFC 3986 resolves %q", p, got, want)
		}
		if hasDotSegment([]byte(got)) {
			t.Errorf("%q: %q still has a dot segment", p, got)
		}
	})
}

// decodeDots decodes %2e and %2E, the only escapes the resolution reads.
func decodeDots(s string) string {
	return strings.NewReplacer("%2e", ".", "%2E", ".").Replace(s)
}

// removeDotSegments is RFC 3986, Section 5.2.4, step by step.
func removeDotSegments(in string) string {
	out := ""
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"), in == "/..":
			in = "/" + in[min(4, len(in)):]
			if i := strings.LastIndexByte(out, '/'); i >= 0 {
				out = out[:i]
			} else {
				out = ""
			}
		case in == "." || in == "..":
			in = ""
		default:
			n := strings.IndexByte(in[1:], '/') + 1
			if n == 0 {
				n = len(in)
			}
			out, in = out+in[:n], in[n:]
		}
	}
	return out
}
