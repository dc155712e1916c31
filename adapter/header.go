package adapter

import (
	"net/http"
	"strings"
	"unsafe"
)

// build is the scratch of one conversion: fasthttp's bytes are copied into
// buf, then turned into a single string (one allocation the GC owns), and
// every string a plugin sees is a slice of it or an interned key (see
// intern.go). Nothing a plugin can reach aliases buf itself, which is
// reused.
//
// Each header line is pushed as a group of one value, the common case;
// when some key comes more than once, group merges them.
type build struct {
	buf    []byte
	groups []group
	spans  []span
	sigs   []uint32 // key signatures, see repeats
	tmpG   []group  // scratch of group
	tmpS   []span

	ids    idSet // interned keys seen so far
	repeat bool  // an interned key came twice
	arenaN int   // lines whose key is in the arena, not interned
	size   int   // bytes of the keys in the arena and the values
}

// group is one distinct header key (interned, or offsets into the arena)
// and the range of its values in the value slice and in build.spans.
// inMap tells whether the key went into the Header map rather than a
// dedicated field.
type group struct {
	id     uint8 // interned key, or idNone
	inMap  bool
	k0, k1 int32 // the key in the arena when id is idNone
	a, z   int32
}

// key returns the group's key: interned, or a slice of the arena s.
func (g *group) key(s string) string {
	if g.id != idNone {
		return internKeys[g.id]
	}
	return s[g.k0:g.k1]
}

// span is one value's offsets into the arena.
type span struct{ v0, v1 int32 }

// idSet is a set of interned key ids.
type idSet [2]uint64

func (s *idSet) has(id uint8) bool { return s[id>>6]&(1<<(id&63)) != 0 }
func (s *idSet) add(id uint8)      { s[id>>6] |= 1 << (id & 63) }

func (b *build) reset() {
	b.buf = b.buf[:0]
	b.groups = b.groups[:0]
	b.spans = b.spans[:0]
	b.ids, b.repeat, b.arenaN, b.size = idSet{}, false, 0, 0
}

// add copies p into buf and returns its offsets.
func (b *build) add(p []byte) (int, int) {
	a := len(b.buf)
	b.buf = append(b.buf, p...)
	return a, len(b.buf)
}

// addField records one header line whose key is copied into buf only if
// it is not interned; the key is canonicalized as
// textproto.CanonicalMIMEHeaderKey would and the value trimmed as
// textproto's reader does.
func (b *build) addField(k, v []byte) {
	id := lookupKey(k)
	var k0, k1 int
	if id == idNone {
		k0, k1 = b.add(k)
		if canonicalize(b.buf[k0:k1]) {
			id = lookupKey(b.buf[k0:k1])
		}
		if id != idNone {
			b.buf = b.buf[:k0] // the interned key stands for it
			k0, k1 = 0, 0
		}
	}
	v0, v1 := b.add(trimSpace(v))
	b.push(id, k0, k1, v0, v1)
}

// push appends a header line as a group of one value, noting whether its
// key came before.
func (b *build) push(id uint8, k0, k1, v0, v1 int) {
	if id != idNone {
		if b.ids.has(id) {
			b.repeat = true
		}
		b.ids.add(id)
	} else {
		b.arenaN++
	}
	n := int32(len(b.groups))
	b.size += k1 - k0 + v1 - v0
	b.groups = append(b.groups, group{id: id, k0: int32(k0), k1: int32(k1), a: n, z: n + 1})
	b.spans = append(b.spans, span{int32(v0), int32(v1)})
}

// values fills vals with the values of the groups, from arena s, after
// merging the lines of a key that came more than once.
func (b *build) values(s string, vals []string) {
	if b.repeat || b.arenaN > 1 && b.repeats(s) {
		b.group(s)
	}
	for i, sp := range b.spans {
		vals[i] = s[sp.v0:sp.v1]
	}
}

// group merges the lines of each key into one group, in the order the
// keys first came, keeping the values in the order they came. Keys are
// compared as strings, as a Header map would.
func (b *build) group(s string) {
	lines, vals := append(b.tmpG[:0], b.groups...), append(b.tmpS[:0], b.spans...)
	b.tmpG, b.tmpS = lines, vals
	b.groups, b.spans = b.groups[:0], b.spans[:0]
	for i := range lines {
		l := &lines[i]
		if l.k0 < 0 {
			continue
		}
		g := group{id: l.id, k0: l.k0, k1: l.k1, a: int32(len(b.spans))}
		for j := i; j < len(lines); j++ {
			m := &lines[j]
			if m.k0 >= 0 && m.id == g.id && (g.id != idNone || s[m.k0:m.k1] == s[g.k0:g.k1]) {
				b.spans = append(b.spans, vals[j])
				m.k0 = -1
			}
		}
		g.z = int32(len(b.spans))
		b.groups = append(b.groups, g)
	}
}

// repeats reports whether some key in the arena (not interned) comes more
// than once; only before group. A key's signature (length and end bytes)
// is looked up in a 256-bit set first, so distinct keys cost one bit test
// each; only a signature seen before leads to comparing bytes.
func (b *build) repeats(s string) bool {
	var seen [4]uint64
	sigs := b.sigs[:0]
	defer func() { b.sigs = sigs }()
	for _, f := range b.groups {
		k := s[f.k0:f.k1]
		sig := uint32(len(k)) << 16
		if f.id != idNone {
			sig = 0 // never compared: interned keys are not in the arena
		} else if len(k) > 0 {
			sig |= uint32(k[0])<<8 | uint32(k[len(k)-1])
		}
		bit := (sig * 2654435761) >> 24 // Fibonacci hashing to 0..255
		if f.id == idNone && seen[bit>>6]&(1<<(bit&63)) != 0 {
			for j, other := range sigs {
				g := b.groups[j]
				if other == sig && g.id == idNone && k == s[g.k0:g.k1] {
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
// replaces the key string by this conversion's) costs less than clearing
// the table and inserting again. len(h) == n means nothing is left over,
// the common case; otherwise every key that is not one of this
// conversion's is deleted, before any plugin sees h.
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
	for i := range b.groups {
		if g := &b.groups[i]; g.inMap && g.key(s) == key {
			return true
		}
	}
	return false
}

// field returns the value of the first line with interned key id, if any;
// only before values.
func (b *build) field(id uint8) (v span, ok bool) {
	if !b.ids.has(id) {
		return span{}, false
	}
	for i, g := range b.groups {
		if g.id == id {
			return b.spans[i], true
		}
	}
	return span{}, false
}

// compact returns, as one fresh string, buf[:head], the keys that are not
// interned and the values of the lines, and buf[a0:a1] last, and moves
// the lines' offsets into it; only before values. Only what a plugin can see is copied,
// straight into an allocation of the exact size, which is never written
// again once it is a string.
func (b *build) compact(head, a0, a1 int) string {
	out := make([]byte, 0, head+b.size+a1-a0)
	out = append(out, b.buf[:head]...)
	for i := range b.groups {
		g, v := &b.groups[i], &b.spans[i]
		if g.id == idNone {
			k0 := int32(len(out))
			out = append(out, b.buf[g.k0:g.k1]...)
			g.k0, g.k1 = k0, int32(len(out))
		}
		v0 := int32(len(out))
		out = append(out, b.buf[v.v0:v.v1]...)
		*v = span{v0, int32(len(out))}
	}
	out = append(out, b.buf[a0:a1]...)
	return unsafe.String(unsafe.SliceData(out), len(out))
}

// arena returns buf as one fresh string.
func (b *build) arena() string {
	if len(b.buf) == 0 {
		return ""
	}
	return string(b.buf)
}

// canonicalize rewrites key in place the way textproto.CanonicalMIMEHeaderKey
// does and reports whether it changed anything: a key holding a byte that
// is not a token character stays as it is.
func canonicalize(key []byte) bool {
	upper, ok := true, true
	for _, c := range key {
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' || !isTokenByte(c) {
			ok = false
			break
		}
		upper = c == '-'
	}
	if ok {
		return false // fasthttp normalized it already, the common case
	}
	for _, c := range key {
		if !isTokenByte(c) {
			return false
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
	return true
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
func isTokenByte(c byte) bool { return tokenBytes[c] }

var tokenBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

// header returns the pooled Header map in *h, making it on first use.
// It starts without a size hint: a map of up to 8 keys (most responses)
// stays one group of slots, the cheapest to assign into and to walk on
// write-back; a hint of 16 made a table of 32 slots that every write-back
// walked. A map grown by a large header stays grown with its Exchange.
func header(h *http.Header) http.Header {
	if *h == nil {
		*h = make(http.Header)
	}
	return *h
}
