package balancer

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// ring is a consistent-hash ring: sorted points, each owned by one backend
// of the set (an index into set.up). A backend has vnodesPerWeight points
// per unit of weight, hashed from its configured URL, so its points do not
// move when another backend leaves or joins: only the keys of that backend
// are remapped.
type ring struct {
	points []uint64
	owners []int32
	// index[k] is the first point at or above k<<shift, for a lookup in a
	// couple of loads instead of a binary search over the whole ring.
	index []uint32
	shift uint
}

const (
	vnodesPerWeight = 256
	// maxPoints bounds the ring; larger weight sums get fewer points per
	// unit of weight, in proportion.
	maxPoints = 1 << 16
)

func buildRing(s *set) *ring {
	per := int64(vnodesPerWeight)
	if s.weight*per > maxPoints {
		per = max(1, maxPoints/s.weight)
	}
	type point struct {
		h     uint64
		owner int32
	}
	var pts []point
	var key []byte
	for i, b := range s.up {
		for v := range int64(b.Weight) * per {
			key = strconv.AppendInt(append(append(key[:0], b.raw...), '#'), v, 10)
			pts = append(pts, point{hashBytes(key), int32(i)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		return int(a.owner - b.owner)
	})
	rg := &ring{points: make([]uint64, len(pts)), owners: make([]int32, len(pts))}
	for i, p := range pts {
		rg.points[i], rg.owners[i] = p.h, p.owner
	}
	// About four points per index bucket.
	nb := uint(bits.Len(uint(len(pts)/4 + 1)))
	rg.shift = 64 - nb
	rg.index = make([]uint32, 1<<nb+1)
	for k := range rg.index {
		if k == 1<<nb {
			rg.index[k] = uint32(len(pts))
			break
		}
		i, _ := slices.BinarySearch(rg.points, uint64(k)<<rg.shift)
		rg.index[k] = uint32(i)
	}
	return rg
}

// find returns the index of the first point at or above h (len(points)
// when h is above them all).
func (rg *ring) find(h uint64) int {
	k := h >> rg.shift
	i, end := int(rg.index[k]), int(rg.index[k+1])
	for i < end && rg.points[i] < h {
		i++
	}
	return i
}

// hashBytes hashes b a word at a time and finishes with SplitMix64's
// finalizer, so short, similar keys (addresses, "url#1", "url#2") spread
// over the whole ring. It is stable across processes, so several Spillway
// instances map a key to the same backend.
func hashBytes(b []byte) uint64 {
	h := uint64(len(b)) * 0x9e3779b97f4a7c15
	for ; len(b) >= 8; b = b[8:] {
		h = (h ^ binary.LittleEndian.Uint64(b)) * 0xff51afd7ed558ccd
		h ^= h >> 32
	}
	var t uint64
	for i, c := range b {
		t |= uint64(c) << (8 * i)
	}
	h ^= t
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// walk takes the first backend at or after h on the ring that take admits
// and, with bound ≥ 0, that is not overloaded. It gives up once every
// backend was visited (tracked for the first 64) or the ring went round.
func (rg *ring) walk(s *set, h uint64, bound float64, r *Request) *Backend {
	n := len(rg.points)
	if n == 0 {
		return nil
	}
	i := rg.find(h)
	total := int64(-1)
	var seen uint64
	visited, want := 0, len(s.up)
	for step := 0; step < n && visited < want; step++ {
		j := i + step
		if j >= n {
			j -= n
		}
		o := rg.owners[j]
		if o < 64 {
			if seen&(1<<o) != 0 {
				continue
			}
			seen |= 1 << o
			visited++
		}
		b := s.up[o]
		if s.overloaded(b, bound, &total) {
			continue
		}
		if s.take(b, r) {
			return b
		}
	}
	return nil
}

// hashKind is what consistent-hash hashes.
type hashKind uint8

const (
	keyIP hashKind = iota
	keyHeader
	keyCookie
	keyPath
)

// hashKey is a parsed hash_key.
type hashKey struct {
	kind hashKind
	name string
	// header is name as fasthttp stores a header key (normalized), so a
	// pick looks it up with PeekCanonical instead of normalizing a copy
	// of the name on every request.
	header []byte
}

// parseHashKey reads "ip" (the default, for ""), "path", "header:NAME" or
// "cookie:NAME".
func parseHashKey(s string) (hashKey, error) {
	switch {
	case s == "" || s == "ip":
		return hashKey{kind: keyIP}, nil
	case s == "path":
		return hashKey{kind: keyPath}, nil
	case strings.HasPrefix(s, "header:") && len(s) > len("header:"):
		name := s[len("header:"):]
		return hashKey{kind: keyHeader, name: name, header: fasthttp.AppendNormalizedHeaderKey(nil, name)}, nil
	case strings.HasPrefix(s, "cookie:") && len(s) > len("cookie:"):
		return hashKey{kind: keyCookie, name: s[len("cookie:"):]}, nil
	}
	return hashKey{}, fmt.Errorf("hash_key %q: want ip, path, header:NAME or cookie:NAME", s)
}

// hash returns the hash of r's key, reading the request in place. A
// request without the header, cookie or path (or without Ctx) hashes its
// client address instead, so it still sticks to one backend.
func (k *hashKey) hash(r *Request) uint64 {
	if c := r.Ctx; c != nil && k.kind != keyIP {
		var v []byte
		switch k.kind {
		case keyHeader:
			v = c.Request.Header.PeekCanonical(k.header)
		case keyCookie:
			v = c.Request.Header.Cookie(k.name)
		case keyPath:
			v = c.Path()
		}
		if len(v) > 0 {
			return hashBytes(v)
		}
	}
	a := r.Client.As16()
	return hashBytes(a[:])
}

// consistentHash places each request on the ring by its key. bound < 0
// disables bounded loads (ip-hash).
type consistentHash struct {
	key   hashKey
	bound float64
}

var _ policy = (*consistentHash)(nil)

func (p *consistentHash) prepare(s *set) { s.ring = buildRing(s) }

func (p *consistentHash) pick(s *set, r *Request) *Backend {
	if s.ring == nil {
		return nil
	}
	h := p.key.hash(r)
	if b := s.ring.walk(s, h, p.bound, r); b != nil || p.bound < 0 {
		return b
	}
	// Only races with concurrent picks, Exclude or a trial can leave every
	// backend over its bound (the bounds add up to more than the load).
	return s.ring.walk(s, h, -1, r)
}
