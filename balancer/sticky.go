package balancer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"strconv"

	"github.com/valyala/fasthttp"
)

// DefaultStickyCookie is the cookie name of sticky-session when
// Options.StickyCookie is empty.
const DefaultStickyCookie = "spillway_sticky"

// sticky sends a request carrying a valid cookie to the backend it names,
// and everything else to the base policy.
//
// A backend's cookie value is the first 128 bits of HMAC-SHA256(key, URL
// and position), base64url-encoded, with key drawn at random by New. The
// values are computed once, so the hot path compares the cookie with each
// backend's value (in constant time) instead of computing a MAC, and
// allocates nothing. The value reveals nothing about the backend, cannot be
// forged without the key, and goes stale when the process restarts.
type sticky struct {
	cookie string
	base   policy
}

var _ policy = (*sticky)(nil)

// newSticky computes each backend's cookie value under a fresh key.
func newSticky(cookie string, backends []*Backend, base policy) (*sticky, error) {
	if cookie == "" {
		cookie = DefaultStickyCookie
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	for _, b := range backends {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(b.raw))
		m.Write([]byte{0})
		m.Write(strconv.AppendInt(nil, int64(b.Index), 10))
		b.token = base64.RawURLEncoding.AppendEncode(nil, m.Sum(nil)[:16])
		b.tokenPrefix = binary.LittleEndian.Uint64(b.token)
	}
	return &sticky{cookie: cookie, base: base}, nil
}

func (p *sticky) prepare(s *set) { p.base.prepare(s) }

func (p *sticky) pick(s *set, r *Request) *Backend {
	if r.Ctx != nil {
		if v := r.Ctx.Request.Header.Cookie(p.cookie); len(v) > 0 {
			for _, b := range s.up {
				if b.owns(v) {
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
