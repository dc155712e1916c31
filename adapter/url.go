package adapter

import (
	"net/url"
	"strings"
)

// parseURI sets u to what net/http's server makes of the request target
// raw (readRequest: url.ParseRequestURI, with CONNECT's authority form).
// It reports false when net/url rejects the target; u then carries the raw
// path and query so that a plugin still sees something sensible.
//
// Origin-form targets whose path needs no unescaping are the common case
// and are parsed here without allocating; their strings slice raw. Anything
// else goes through net/url, which allocates, so the result is exactly
// net/http's.
func parseURI(u *url.URL, raw, method string) bool {
	if path, query, ok := plainOriginForm(raw); ok {
		u.Path = path
		u.RawQuery = query
		u.ForceQuery = query == "" && len(path) < len(raw)
		return true
	}
	target := raw
	authority := method == "CONNECT" && !strings.HasPrefix(raw, "/")
	if authority {
		target = "http://" + raw
	}
	p, err := url.ParseRequestURI(target)
	if err != nil {
		path, query, _ := strings.Cut(raw, "?")
		*u = url.URL{Path: path, RawQuery: query}
		return false
	}
	if authority {
		p.Scheme = ""
	}
	*u = *p
	return true
}

// plainOriginForm splits an origin-form target whose path holds only bytes
// that net/url neither unescapes nor would escape, so that Path is the raw
// path and RawPath is empty. Like url.ParseRequestURI it refuses control
// bytes anywhere in the target.
func plainOriginForm(raw string) (path, query string, ok bool) {
	if raw == "" || raw[0] != '/' {
		return "", "", false
	}
	i := 0
	for ; i < len(raw) && raw[i] != '?'; i++ {
		if !pathByte[raw[i]] {
			return "", "", false
		}
	}
	for j := i; j < len(raw); j++ {
		if c := raw[j]; c < ' ' || c == 0x7f {
			return "", "", false
		}
	}
	if i == len(raw) {
		return raw, "", true
	}
	return raw[:i], raw[i+1:], true
}

// pathByte marks the bytes net/url leaves unescaped in a path (its
// shouldEscape with encodePath): unreserved characters and $&+,/:;=@.
// '%' is not among them because it would be unescaped.
var pathByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()
