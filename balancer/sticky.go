package balancer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"
)

// DefaultStickyCookie is the cookie name of sticky-session when
// Options.StickyCookie is empty.
const DefaultStickyCookie = "spillway_sticky"

// sticky sends a request carrying a valid cookie to the backend it names,
// and everything else to the base policy.
//
// A backend's cookie value is the first 128 bits of HMAC-SHA256(key, URL
// and position), base64url-encoded, under a key drawn at random once per
// process (so pools rebuilt by a reload keep their clients). The values are
// computed by New, so the hot path compares the cookie with each backend's
// value (in constant time) instead of computing a MAC, and allocates
// nothing. The value reveals nothing about the backend, cannot be forged
// without the key, and goes stale when the process restarts.
type sticky struct {
	cookie string
	base   policy
}

var _ policy = (*sticky)(nil)

// processKey is the sticky-session MAC key of this process.
var processKey = sync.OnceValue(func() []byte {
	key := make([]byte, 32)
	rand.Read(key) // never fails since Go 1.24 (it crashes the program instead)
	return key
})

// newSticky computes each backend's cookie value.
func newSticky(cookie string, backends []*Backend, base policy) *sticky {
	if cookie == "" {
		cookie = DefaultStickyCookie
	}
	for _, b := range backends {
		b.token = cookieValue(processKey(), b.raw, b.Index)
		b.tokenPrefix = binary.LittleEndian.Uint64(b.token)
	}
	return &sticky{cookie: cookie, base: base}
}

// cookieValue is the cookie value naming the backend configured as raw at
// position index, under key.
func cookieValue(key []byte, raw string, index int) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(raw))
	m.Write([]byte{0})
	m.Write(strconv.AppendInt(nil, int64(index), 10))
	return base64.RawURLEncoding.AppendEncode(nil, m.Sum(nil)[:16])
}

func (p *sticky) prepare(s *set) { p.base.prepare(s) }

func (p *sticky) pick(s *set, r *Request) *Backend {
	if r.Ctx != nil {
		if v := r.Ctx.Request.Header.Cookie(p.cookie); len(v) >= 8 {
			// The word is read once; only a backend whose value starts
			// with it is compared in full.
			pre := binary.LittleEndian.Uint64(v)
			for _, b := range s.up {
				if b.tokenPrefix == pre && b.owns(v) {
					if s.take(b, r) {
						return b
					}
					break
				}
			}
		}
	}
	return p.base.pick(s, r)
}

// stamp sets the cookie naming b unless the request already carried it.
// The cookie lasts for the browser session, is sent for every path, is
// hidden from scripts and, on TLS connections, marked Secure.
func (p *sticky) stamp(ctx *fasthttp.RequestCtx, b *Backend) {
	if b.owns(ctx.Request.Header.Cookie(p.cookie)) {
		return
	}
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(p.cookie)
	c.SetValueBytes(b.token)
	c.SetPath("/")
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	c.SetSecure(ctx.IsTLS())
	ctx.Response.Header.SetCookie(c)
}

// owns reports whether cookie value v is b's. The first 8 bytes are
// compared as one word to find the candidate quickly; the whole value is
// then compared in constant time, so timing reveals no more than whether a
// guess shares a 48-bit prefix with some backend's value, leaving 80 bits
// to forge.
func (b *Backend) owns(v []byte) bool {
	return len(v) == len(b.token) && len(v) >= 8 &&
		binary.LittleEndian.Uint64(v) == b.tokenPrefix &&
		subtle.ConstantTimeCompare(v, b.token) == 1
}
