package middleware

import (
	"bytes"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// addVary adds token to the response's Vary unless a Vary field already
// lists it or "*". A single Vary field is extended in place ("a, token");
// with several, a field is added, which means the same (RFC 9110 §5.3).
func addVary(h *fasthttp.ResponseHeader, token string) {
	fields := h.PeekAll("Vary")
	for _, f := range fields {
		if hasToken(f, token) {
			return
		}
	}
	switch len(fields) {
	case 0:
		h.Set("Vary", token)
	case 1:
		b := bytebufferpool.Get()
		defer bytebufferpool.Put(b)
		b.B = append(append(append(b.B[:0], fields[0]...), ", "...), token...)
		h.SetBytesV("Vary", b.B)
	default:
		h.Add("Vary", token)
	}
}

// hasToken reports whether the comma-separated list has token (compared
// case-insensitively) or "*".
func hasToken(list []byte, token string) bool {
	for len(list) > 0 {
		var item []byte
		item, list, _ = bytes.Cut(list, []byte{','})
		item = bytes.TrimSpace(item)
		if string(item) == "*" || bytes.EqualFold(item, []byte(token)) {
			return true
		}
	}
	return false
}
