package adapter

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"unsafe"
)

// build is the scratch of one conversion: fasthttp's bytes are copied into
// buf, then turned into a single string (one allocation the GC owns), and
// every string a plugin sees is a slice of it. Nothing a plugin can reach
// aliases buf itself, which is reused.
type build struct {
	buf    []byte
	fields []field
	groups []group
	spans  []span
	sigs   []uint32 // key signatures, see repeats
}

// field is one header line as offsets into build.buf.
type field struct{ k0, k1, v0, v1 int }

// group is one distinct header key (offsets into the arena) and the range
// of its values in the value slice and in build.spans. inMap tells whether
// the key went into the Header map rather than a dedicated field.
type group struct {
	k0, k1, a, z int
	inMap        bool
}

// span is one value's offsets into the arena.
type span struct{ v0, v1 int }

func (b *build) reset() {
	b.buf = b.buf[:0]
	b.fields = b.fields[:0]
	b.groups = b.groups[:0]
	b.spans = b.spans[:0]
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
// order they came, and records the groups in b.groups and the values'
// offsets in b.spans. Keys are compared as strings, as a Header map would.
func (b *build) group(s string, vals []string) {
	if !b.repeats() {
		// Every key comes once, the common case: one group per field.
		for i, f := range b.fields {
			vals[i] = s[f.v0:f.v1]
			b.spans = append(b.spans, span{f.v0, f.v1})
			b.groups = append(b.groups, group{k0: f.k0, k1: f.k1, a: i, z: i + 1})
		}
		return
	}
	for i := range b.fields {
		f := &b.fields[i]
		if f.k0 < 0 {
			continue
		}
		k0, k1, a := f.k0, f.k1, len(b.spans)
		for j := i; j < len(b.fields); j++ {
			g := &b.fields[j]
			if g.k0 >= 0 && g.k1-g.k0 == k1-k0 && s[g.k0:g.k1] == s[k0:k1] {
				vals[len(b.spans)] = s[g.v0:g.v1]
				b.spans = append(b.spans, span{g.v0, g.v1})
				g.k0 = -1
			}
		}
		b.groups = append(b.groups, group{k0: k0, k1: k1, a: a, z: len(b.spans)})
	}
}

// repeats reports whether some key comes more than once. A key's
// signature (length and end bytes) is looked up in a 256-bit set first, so
// the usual request with distinct keys costs one bit test per key; only a
// signature seen before leads to comparing bytes.
func (b *build) repeats() bool {
	var seen [4]uint64
	sigs := b.sigs[:0]
	defer func() { b.sigs = sigs }()
	for _, f := range b.fields {
		k := b.buf[f.k0:f.k1]
		sig := uint32(len(k)) << 16
		if len(k) > 0 {
			sig |= uint32(k[0])<<8 | uint32(k[len(k)-1])
		}
		bit := (sig * 2654435761) >> 24 // Fibonacci hashing to 0..255
		if seen[bit>>6]&(1<<(bit&63)) != 0 {
			for j, other := range sigs {
				if other == sig && string(k) == string(b.buf[b.fields[j].k0:b.fields[j].k1]) {
					return true
				}
			}
		}
		seen[bit>>6] |= 1 << (bit & 63)
		sigs = append(sigs, sig)
	}
	return false
}

// sweep deletes from h the keys a previous exchange left in it, given that
// the n groups marked inMap were just assigned. Release does not clear the
// pooled Header maps: most requests on a connection carry the keys of the
// one before, and assigning a key the map already holds (which also
// replaces the key string by this arena's) costs less than clearing the
// table and inserting again. len(h) == n means nothing is left over, the
// common case; otherwise every key that is not one of this conversion's is
// deleted, before any plugin sees h.
func (b *build) sweep(h http.Header, s string, n int) {
	if len(h) == n {
		return
	}
	for k := range h {
		if !b.assigned(s, k) {
			delete(h, k)
		}
	}
}

// assigned reports whether key is one of the groups put into the Header map.
func (b *build) assigned(s, key string) bool {
	for _, g := range b.groups {
		if g.inMap && s[g.k0:g.k1] == key {
			return true
		}
	}
	return false
}

// grouped reports whether group found a key named key in arena s.
func (b *build) grouped(s, key string) bool {
	for _, g := range b.groups {
		if s[g.k0:g.k1] == key {
			return true
		}
	}
	return false
}

// has reports whether a field named key (canonical) was added; only
// before group.
func (b *build) has(key string) bool {
	for _, f := range b.fields {
		if string(b.buf[f.k0:f.k1]) == key {
			return true
		}
	}
	return false
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
	upper, ok := true, true
	for _, c := range key {
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' || !isTokenByte(c) {
			ok = false
			break
		}
		upper = c == '-'
	}
	if ok {
		return // fasthttp normalized it already, the common case
	}
	for _, c := range key {
		if !isTokenByte(c) {
			return
		}
	}
	upper = true
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
// can reach, so that write-back can tell what changed by comparing. The
// header part is offsets into the arena string, which nobody can change,
// so taking it copies no pointers.
type snapshot struct {
	method, host, requestURI string
	url                      url.URL
	status                   int
	statusText               string
	contentLength            int64
	body                     io.ReadCloser

	arena  string
	groups []group
	spans  []span
	marks  []uint8  // scratch of applyHeader
	added  []string // keys applyHeader found new, sorted
}

// takeHeader records the header a plugin is given, from the build.
func (s *snapshot) takeHeader(arena string, b *build) {
	s.arena = arena
	s.groups = append(s.groups[:0], b.groups...)
	s.spans = append(s.spans[:0], b.spans...)
}

// reset forgets the snapshot and deletes from h, the pooled Header map it
// describes, the keys a plugin added, so that the next conversion finds
// only keys it assigns again (see build.sweep).
func (s *snapshot) reset(h http.Header) {
	for _, k := range s.added {
		delete(h, k)
	}
	clear(s.added)
	s.added = s.added[:0]
	s.method, s.host, s.requestURI, s.statusText = "", "", "", ""
	s.url = url.URL{}
	s.status, s.contentLength, s.body = 0, 0, nil
	s.arena = ""
	s.groups = s.groups[:0]
	s.spans = s.spans[:0]
}

// unchanged reports whether cur holds exactly the values of g.
func (s *snapshot) unchanged(cur []string, g group) bool {
	if len(cur) != g.z-g.a {
		return false
	}
	for i, sp := range s.spans[g.a:g.z] {
		if cur[i] != s.arena[sp.v0:sp.v1] {
			return false
		}
	}
	return true
}

// offset returns where key's bytes start in the arena, if key is a slice
// of it. Go never moves heap objects, so comparing addresses is sound; a key
// that merely equals an arena key but lives elsewhere is not found here and
// goes through the byte comparison.
func (s *snapshot) offset(key string) (int, bool) {
	if key == "" || s.arena == "" {
		return 0, false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(key)))
	a := uintptr(unsafe.Pointer(unsafe.StringData(s.arena)))
	if p < a || p >= a+uintptr(len(s.arena)) {
		return 0, false
	}
	return int(p - a), true
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
// The new keys are kept, sorted so the wire order is deterministic, in
// s.added for reset.
//
// One pass over h finds everything: iterating a small map costs less than
// looking each snapshot key up in it, and the keys are matched to the
// snapshot by where their bytes live (see group).
func (s *snapshot) applyHeader(h http.Header, w headerWriter, ignored func(string) bool) {
	marks := s.marks[:0]
	for range s.groups {
		marks = append(marks, markMissing)
	}
	s.marks = marks
	clear(s.added)
	keys := s.added[:0]
	for key, cur := range h {
		i := s.group(key)
		switch {
		case i < 0:
			keys = append(keys, key)
		case s.unchanged(cur, s.groups[i]):
			marks[i] = markSame
		default:
			marks[i] = markChanged
		}
	}
	for i, g := range s.groups {
		if !g.inMap || marks[i] == markSame {
			continue
		}
		key := s.arena[g.k0:g.k1]
		if ignored(key) {
			continue
		}
		w.Del(key)
		for _, v := range h[key] {
			w.Add(key, sanitize(v))
		}
	}
	slices.Sort(keys)
	s.added = keys
	for _, key := range keys {
		if ignored(key) || !validKey(key) {
			continue
		}
		for _, v := range h[key] {
			w.Add(key, sanitize(v))
		}
	}
}

// Marks of snapshot groups during applyHeader.
const (
	markMissing uint8 = iota
	markSame
	markChanged
)

// group returns the index of the Header-map group named key, or -1.
func (s *snapshot) group(key string) int {
	if off, ok := s.offset(key); ok {
		// The map still holds the very key string the conversion put in
		// (the usual case): find its group by offset, no byte comparison.
		// Groups are in order of their key's first line, so by offset.
		lo, hi := 0, len(s.groups)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if s.groups[m].k0 < off {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < len(s.groups) {
			if g := s.groups[lo]; g.k0 == off && g.k1-g.k0 == len(key) && g.inMap {
				return lo
			}
		}
	}
	for i, g := range s.groups {
		if g.inMap && g.k1-g.k0 == len(key) && s.arena[g.k0:g.k1] == key {
			return i
		}
	}
	return -1
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

// header returns the pooled Header map in *h, making it on first use.
func header(h *http.Header) http.Header {
	if *h == nil {
		*h = make(http.Header, 16)
	}
	return *h
}
