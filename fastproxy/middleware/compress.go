package middleware

import (
	"bytes"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// minCompressSize is the smallest body compressed: below it the encoding's
// framing and the CPU cost outweigh the bytes saved. A streamed body of
// unknown length is always compressed.
const minCompressSize = 512

// Compression levels: fasthttp's defaults, a balance that keeps a proxy
// core busy with forwarding rather than squeezing.
const (
	gzipLevel   = fasthttp.CompressDefaultCompression
	brotliLevel = fasthttp.CompressBrotliDefaultCompression
	zstdLevel   = fasthttp.CompressZstdDefault
)

type encoding uint8

const (
	encNone encoding = iota
	encGzip
	encBrotli
	encZstd
)

// compression compresses answers with the best coding the client accepts.
//
// The codecs are fasthttp's: its compress handlers encode a whole body with
// pooled writers, and a streamed one as it streams (the stream is wrapped,
// each chunk is compressed and flushed as it arrives, nothing is buffered
// whole). Those handlers choose the coding from the request's
// Accept-Encoding by presence only, ignoring q-values, so apply narrows the
// header to the coding it chose for the call and restores it afterwards.
type compression struct {
	byEnc [4]fasthttp.RequestHandler
}

func newCompression() *compression {
	noop := func(*fasthttp.RequestCtx) {}
	return &compression{byEnc: [4]fasthttp.RequestHandler{
		encGzip:   fasthttp.CompressHandlerLevel(noop, gzipLevel),
		encBrotli: fasthttp.CompressHandlerBrotliLevel(noop, brotliLevel, gzipLevel),
		encZstd:   fasthttp.CompressHandlerLevel(noop, zstdLevel),
	}}
}

var encNames = [4]string{encGzip: "gzip", encBrotli: "br", encZstd: "zstd"}

// apply compresses ctx.Response when it is worth it: a compressible content
// type, not encoded already, at least minCompressSize bytes, a status with
// a body, no Cache-Control: no-transform (RFC 9111 §5.2.2.6), and not a
// HEAD answer. Such an answer varies by Accept-Encoding whether or not this
// client accepts a coding, so Vary says so either way.
func (c *compression) apply(ctx *fasthttp.RequestCtx) {
	resp := &ctx.Response
	switch st := resp.StatusCode(); {
	case st < 200, st == fasthttp.StatusNoContent, st == fasthttp.StatusPartialContent,
		st == fasthttp.StatusNotModified, ctx.IsHead():
		return
	}
	h := &resp.Header
	if len(h.ContentEncoding()) > 0 || !compressible(h.ContentType()) ||
		hasToken(h.Peek("Cache-Control"), "no-transform") {
		return
	}
	if resp.IsBodyStream() {
		if n := h.ContentLength(); n >= 0 && n < minCompressSize {
			return
		}
	} else if len(resp.Body()) < minCompressSize {
		return
	}
	addVary(h, "Accept-Encoding")
	if enc := negotiate(ctx.Request.Header.Peek("Accept-Encoding")); enc != encNone {
		c.encode(ctx, enc)
	}
}

// encode runs fasthttp's handler for enc on ctx.Response. That handler
// picks the coding from Accept-Encoding by presence and checks the
// Content-Type itself, case-sensitively, so for the call Accept-Encoding
// names enc alone and the media type is lower case (media types are
// case-insensitive, RFC 9110 §8.3.1); both are restored afterwards, so
// the request and the answer's Content-Type read as they were sent.
func (c *compression) encode(ctx *fasthttp.RequestCtx, enc encoding) {
	h := &ctx.Response.Header
	saved := bytebufferpool.Get()
	defer bytebufferpool.Put(saved)
	saved.B = append(saved.B[:0], ctx.Request.Header.Peek("Accept-Encoding")...)
	ctx.Request.Header.Set("Accept-Encoding", encNames[enc])
	// ct holds the original Content-Type, then its lower-cased form.
	var ct *bytebufferpool.ByteBuffer
	n := 0
	if hasUpperType(h.ContentType()) {
		ct = bytebufferpool.Get()
		defer bytebufferpool.Put(ct)
		ct.B = append(ct.B[:0], h.ContentType()...)
		n = len(ct.B)
		ct.B = appendLowerType(ct.B, ct.B[:n])
		h.SetContentTypeBytes(ct.B[n:])
	}
	c.byEnc[enc](ctx)
	ctx.Request.Header.SetBytesV("Accept-Encoding", saved.B)
	if ct != nil {
		h.SetContentTypeBytes(ct.B[:n])
	}
	if len(h.ContentEncoding()) > 0 {
		weakenETag(h, saved)
	}
}

// hasUpperType reports whether a Content-Type's media type (before any
// parameters) has upper-case letters.
func hasUpperType(ct []byte) bool {
	for _, b := range ct {
		switch {
		case b == ';':
			return false
		case 'A' <= b && b <= 'Z':
			return true
		}
	}
	return false
}

// appendLowerType appends ct to dst with its media type lower-cased; the
// parameters, whose values may be case-sensitive, are kept as they are.
func appendLowerType(dst, ct []byte) []byte {
	lower := true
	for _, b := range ct {
		if b == ';' {
			lower = false
		}
		if lower && 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		dst = append(dst, b)
	}
	return dst
}

// weakenETag marks a strong ETag weak once the body is compressed: the
// encoded bytes are not the ones the backend tagged, and encoders may
// differ between answers, so byte-for-byte equality no longer holds
// (RFC 9110 §8.8.1). buf is scratch space.
func weakenETag(h *fasthttp.ResponseHeader, buf *bytebufferpool.ByteBuffer) {
	et := h.Peek("ETag")
	if len(et) == 0 || bytes.HasPrefix(et, []byte("W/")) {
		return
	}
	buf.B = append(append(buf.B[:0], "W/"...), et...)
	h.SetBytesV("ETag", buf.B)
}

// compressible reports whether a media type is worth compressing: text,
// and the structured formats that are text underneath. Images, audio,
// video, archives and fonts other than TrueType/OpenType are compressed
// already.
func compressible(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	if hasPrefixFold(ct, "text/") {
		return true
	}
	if hasSuffixFold(ct, "+json") || hasSuffixFold(ct, "+xml") {
		return codecCompresses(ct)
	}
	for _, t := range compressibleTypes {
		if bytes.EqualFold(ct, []byte(t)) {
			return true
		}
	}
	return false
}

// codecCompresses reports whether fasthttp's codecs accept the media type
// (a lower-case one; encode lower-cases it): they check its prefix
// against their own list and skip the others, so an answer of a type
// outside it is not compressed and must not claim Vary: Accept-Encoding.
// Every compressibleTypes entry and text/ pass; "+json" and "+xml" types
// under other top-level types (model/, message/) do not.
func codecCompresses(ct []byte) bool {
	for _, p := range [...]string{"text/", "application/", "image/svg", "image/x-icon", "font/", "multipart/"} {
		if hasPrefixFold(ct, p) {
			return true
		}
	}
	return false
}

var compressibleTypes = []string{
	"application/json", "application/javascript", "application/x-javascript",
	"application/ecmascript", "application/xml", "application/x-ndjson",
	"application/wasm", "application/x-www-form-urlencoded", "application/graphql",
	"application/vnd.ms-fontobject", "application/x-font-ttf", "application/x-font-otf",
	"font/ttf", "font/otf", "image/x-icon",
}

func hasPrefixFold(b []byte, p string) bool {
	return len(b) >= len(p) && bytes.EqualFold(b[:len(p)], []byte(p))
}

func hasSuffixFold(b []byte, s string) bool {
	return len(b) >= len(s) && bytes.EqualFold(b[len(b)-len(s):], []byte(s))
}

// negotiate picks the coding of an Accept-Encoding value (RFC 9110
// §12.5.3): the highest q-value wins; on a tie br, then gzip, then zstd.
// "*" stands for br and gzip when they are not named; zstd is used only
// when named, since its support is recent. A coding with q=0 is refused.
func negotiate(ae []byte) encoding {
	q := [4]int{-1, -1, -1, -1} // thousandths; -1: not named
	star := -1
	for len(ae) > 0 {
		var item []byte
		item, ae, _ = bytes.Cut(ae, []byte{','})
		name, params, _ := bytes.Cut(item, []byte{';'})
		name = bytes.TrimSpace(name)
		v := qvalue(params)
		switch {
		case bytes.EqualFold(name, []byte("gzip")), bytes.EqualFold(name, []byte("x-gzip")):
			q[encGzip] = max(q[encGzip], v)
		case bytes.EqualFold(name, []byte("br")):
			q[encBrotli] = max(q[encBrotli], v)
		case bytes.EqualFold(name, []byte("zstd")):
			q[encZstd] = max(q[encZstd], v)
		case string(name) == "*":
			star = v
		}
	}
	for _, e := range [2]encoding{encBrotli, encGzip} {
		if q[e] < 0 {
			q[e] = star
		}
	}
	best, bestQ := encNone, 0
	for _, e := range [3]encoding{encBrotli, encGzip, encZstd} {
		if q[e] > bestQ {
			best, bestQ = e, q[e]
		}
	}
	return best
}

// qvalue reads the q parameter of an Accept-Encoding member in thousandths:
// 1000 when absent, 0 when malformed (a malformed weight is not consent).
func qvalue(params []byte) int {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte{';'})
		p = bytes.TrimSpace(p)
		if len(p) < 2 || p[0]|0x20 != 'q' || p[1] != '=' {
			continue
		}
		return parseQ(p[2:])
	}
	return 1000
}

// parseQ parses "0", "0.5", "1", "1.000" (at most three decimals).
func parseQ(v []byte) int {
	if len(v) == 0 || (v[0] != '0' && v[0] != '1') {
		return 0
	}
	n := int(v[0]-'0') * 1000
	if len(v) == 1 {
		return n
	}
	if v[1] != '.' || len(v) > 5 {
		return 0
	}
	scale := 100
	for _, d := range v[2:] {
		if d < '0' || d > '9' {
			return 0
		}
		n += int(d-'0') * scale
		scale /= 10
	}
	return min(n, 1000)
}
