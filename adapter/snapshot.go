package adapter

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"unsafe"
)

// snapshot is what a plugin was given, kept apart from anything the plugin
// can reach, so that write-back can tell what changed by comparing. The
// header part is offsets into the arena string and interned key ids,
// which nobody can change; taking it swaps the build's slices in, so no
// header data is copied.
type snapshot struct {
	method, host, requestURI string
	path, rawPath, rawQuery  string // of the URL
	opaque                   string
	forceQuery               bool
	status                   int
	statusText               string
	contentLength            int64
	body                     io.ReadCloser

	arena  string
	groups []group
	spans  []span
	inMap  int                     // groups marked inMap
	byID   [len(commonKeys)]uint16 // group of an interned key; stale entries are possible
	marks  []uint8                 // scratch of applyHeader
	added  []string                // keys applyHeader found new, sorted
}

// takeURL records the parts of u that make up a request target.
func (s *snapshot) takeURL(u *url.URL) {
	s.path, s.rawPath, s.rawQuery, s.opaque, s.forceQuery = u.Path, u.RawPath, u.RawQuery, u.Opaque, u.ForceQuery
}

// urlChanged reports whether the parts of u that make up a request target
// differ from the snapshot.
func (s *snapshot) urlChanged(u *url.URL) bool {
	return u.Path != s.path || u.RawPath != s.rawPath || u.RawQuery != s.rawQuery ||
		u.ForceQuery != s.forceQuery || u.Opaque != s.opaque
}

// takeHeader records the header a plugin is given, taking b's groups and
// spans (b gets the snapshot's old ones to reuse); inMap groups went into
// the Header map, and byID was filled while they did (see mapped).
func (s *snapshot) takeHeader(arena string, b *build, inMap int) {
	s.arena = arena
	s.groups, b.groups = b.groups, s.groups[:0]
	s.spans, b.spans = b.spans, s.spans[:0]
	s.inMap = inMap
}

// mapped notes that group i of the build about to be taken went into the
// Header map. An index past 65535 wraps in byID and is then found by
// byInterned's scan.
func (s *snapshot) mapped(g *group, i int) {
	g.inMap = true
	if g.id != idNone {
		s.byID[g.id] = uint16(i)
	}
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
	s.path, s.rawPath, s.rawQuery, s.opaque, s.forceQuery = "", "", "", "", false
	s.status, s.contentLength, s.body = 0, 0, nil
	s.arena = ""
	s.groups = s.groups[:0]
	s.spans = s.spans[:0]
}

// unchanged reports whether cur holds exactly the values of g. A value
// still backed by the arena where the conversion put it (the usual case)
// compares by address and length alone, without a call.
func (s *snapshot) unchanged(cur []string, g *group) bool {
	spans := s.spans[g.a:g.z]
	if len(cur) != len(spans) {
		return false
	}
	base := unsafe.Pointer(unsafe.StringData(s.arena))
	for i, v := range cur {
		sp := spans[i]
		if len(v) == int(sp.v1-sp.v0) && (len(v) == 0 || unsafe.Pointer(unsafe.StringData(v)) == unsafe.Add(base, sp.v0)) {
			continue
		}
		if v != s.arena[sp.v0:sp.v1] {
			return false
		}
	}
	return true
}

// find returns the index of the Header-map group named key, or -1.
func (s *snapshot) find(key string) int {
	if id := internedID(key); id != idNone {
		// The map holds the interned key the conversion put in (the usual
		// case); the group of that id, if there is one, is in byID.
		return s.byInterned(id)
	}
	if off, ok := s.offset(key); ok {
		// A key the conversion sliced from the arena: found by address.
		for i := range s.groups {
			if g := &s.groups[i]; g.id == idNone && int(g.k0) == off && int(g.k1-g.k0) == len(key) && g.inMap {
				return i
			}
		}
	}
	// A key string from elsewhere (the plugin's own), equal to one of ours
	// if the plugin deleted and re-added a key.
	if id := lookupKey(key); id != idNone {
		return s.byInterned(id)
	}
	for i := range s.groups {
		if g := &s.groups[i]; g.id == idNone && g.inMap && int(g.k1-g.k0) == len(key) && s.arena[g.k0:g.k1] == key {
			return i
		}
	}
	return -1
}

// byInterned returns the Header-map group of interned key id, or -1.
func (s *snapshot) byInterned(id uint8) int {
	i := int(s.byID[id])
	if i < len(s.groups) && s.groups[i].id == id && s.groups[i].inMap {
		return i
	}
	for i := range s.groups { // none with id, or byID wrapped
		if g := &s.groups[i]; g.id == id && g.inMap {
			return i
		}
	}
	return -1
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
// snapshot by where their bytes live (see find).
func (s *snapshot) applyHeader(h http.Header, w headerWriter, ignored func(string) bool) {
	marks := slices.Grow(s.marks[:0], len(s.groups))[:len(s.groups)]
	clear(marks) // markMissing
	s.marks = marks
	clear(s.added)
	keys := s.added[:0]
	same := 0
	for key, cur := range h {
		i := -1
		if id := internedID(key); id != idNone {
			// The map holds the interned key the conversion put in (the
			// usual case); the group of that id, if there is one, is in byID.
			if j := int(s.byID[id]); j < len(s.groups) && s.groups[j].id == id && s.groups[j].inMap {
				i = j
			} else {
				i = s.byInterned(id)
			}
		} else {
			i = s.find(key)
		}
		switch {
		case i < 0:
			keys = append(keys, key)
		case s.unchanged(cur, &s.groups[i]):
			marks[i] = markSame
			same++
		default:
			marks[i] = markChanged
		}
	}
	if same < s.inMap {
		s.applyChanged(h, w, ignored)
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

// applyChanged rewrites in w every key of the snapshot that applyHeader
// did not mark the same.
func (s *snapshot) applyChanged(h http.Header, w headerWriter, ignored func(string) bool) {
	for i := range s.groups {
		g := &s.groups[i]
		if !g.inMap || s.marks[i] == markSame {
			continue
		}
		key := g.key(s.arena)
		if ignored(key) {
			continue
		}
		w.Del(key)
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
