package adapter

import (
	"io"
	"net/http"
	"net/url"
	"slices"
)

// build is the scratch of one conversion: fasthttp's bytes are copied into
// buf, then turned into a single string (one allocation the GC owns), and
// every string a plugin sees is a slice of it. Nothing a plugin can reach
// aliases buf itself, which is reused.
type build struct {
	buf    []byte
	wire   []byte // fasthttp's serialized request header
	fields []field
	groups []group
	keys   []string // new header keys found on write-back
}

// field is one header line as offsets into build.buf.
type field struct{ k0, k1, v0, v1 int }

// group is one distinct header key and the range of its values.
type group struct {
	key  string
	a, z int
}

func (b *build) reset() {
	b.buf = b.buf[:0]
	b.fields = b.fields[:0]
	b.groups = b.groups[:0]
	clear(b.keys)
	b.keys = b.keys[:0]
}

// add copies p into buf and returns its offsets.
func (b *build) add(p []byte) (int, int) {
	a := len(b.buf)
	b.buf = append(b.buf, p...)
	return a, len(b.buf)
}

// addField copies one header line, canonicalizing the key as
// textproto.CanonicalMIMEHeaderKey would and trimming the value as
// textproto's reader does.
func (b *build) addField(k, v []byte) {
	k0, k1 := b.add(k)
	canonicalize(b.buf[k0:k1])
	v0, v1 := b.add(trimSpace(v))
	b.fields = append(b.fields, field{k0, k1, v0, v1})
}

// group fills vals with the values of s's fields grouped by key, in the
// order they came, and records the groups in b.groups. Keys are compared as
// strings, which is what a Header map would do.
func (b *build) group(s string, vals []string) {
	n := 0
	for i := range b.fields {
		f := &b.fields[i]
		if f.k0 < 0 {
			continue
		}
		key := s[f.k0:f.k1]
		a := n
		for j := i; j < len(b.fields); j++ {
			g := &b.fields[j]
			if g.k0 >= 0 && s[g.k0:g.k1] == key {
				vals[n] = s[g.v0:g.v1]
				n++
				g.k0 = -1
			}
		}
		b.groups = append(b.groups, group{key, a, n})
	}
}

// arena returns buf as one fresh string.
func (b *build) arena() string {
	if len(b.buf) == 0 {
		return ""
	}
	return string(b.buf)
}

// canonicalize rewrites key in place the way textproto.CanonicalMIMEHeaderKey
// does: a key holding a byte that is not a token character stays as it is.
func canonicalize(key []byte) {
	for _, c := range key {
		if !isTokenByte(c) {
			return
		}
	}
	upper := true
	for i, c := range key {
		if upper && 'a' <= c && c <= 'z' {
			key[i] = c - ('a' - 'A')
		} else if !upper && 'A' <= c && c <= 'Z' {
			key[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
}

func trimSpace(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// isTokenByte reports whether c may appear in a header field name
// (RFC 9110, Section 5.6.2).
func isTokenByte(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// snapshot is what a plugin was given, kept apart from anything the plugin
// can reach, so that write-back can tell what changed by comparing.
type snapshot struct {
	method, host, requestURI string
	url                      url.URL
	status                   int
	statusText               string
	contentLength            int64
	body                     io.ReadCloser

	header http.Header
	keys   []string
	ends   []int
	vals   []string
}

// addHeader records key with a copy of vals.
func (s *snapshot) addHeader(key string, vals []string) {
	s.keys = append(s.keys, key)
	s.vals = append(s.vals, vals...)
	s.ends = append(s.ends, len(s.vals))
}

func (s *snapshot) reset() {
	s.method, s.host, s.requestURI, s.statusText = "", "", "", ""
	s.url = url.URL{}
	s.status, s.contentLength, s.body = 0, 0, nil
	s.header = nil
	clear(s.keys)
	s.keys = s.keys[:0]
	s.ends = s.ends[:0]
	clear(s.vals)
	s.vals = s.vals[:0]
}

// headerWriter is what fasthttp's RequestHeader and ResponseHeader share.
type headerWriter interface {
	Del(key string)
	Add(key, value string)
}

// applyHeader writes the difference between h and the snapshot into w:
// a key whose values changed or that was deleted is deleted in w (all of
// its lines) and its current values added; a new key is added. Keys for
// which ignored returns true are framing or Host, which net/http takes from
// dedicated fields, so they are skipped as net/http's writers skip them.
// scratch holds the new keys, sorted so the wire order is deterministic.
func (s *snapshot) applyHeader(h http.Header, w headerWriter, ignored func(string) bool, scratch *[]string) {
	found, a := 0, 0
	for i, key := range s.keys {
		old := s.vals[a:s.ends[i]]
		a = s.ends[i]
		cur, ok := h[key]
		if ok {
			found++
		}
		if ok && slices.Equal(cur, old) || ignored(key) {
			continue
		}
		w.Del(key)
		for _, v := range cur {
			w.Add(key, sanitize(v))
		}
	}
	if found == len(h) {
		return
	}
	keys := (*scratch)[:0]
	for key := range h {
		if !slices.Contains(s.keys, key) && !ignored(key) && validKey(key) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	for _, key := range keys {
		for _, v := range h[key] {
			w.Add(key, sanitize(v))
		}
	}
	*scratch = keys
}

func validKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if !isTokenByte(key[i]) {
			return false
		}
	}
	return true
}

// sanitize replaces control characters other than tab with spaces, as
// net/http's Header.Write does for CR and LF, so a value a plugin set can
// never split a header line.
func sanitize(v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			b := []byte(v)
			for j, c := range b {
				if c < ' ' && c != '\t' || c == 0x7f {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return v
}
