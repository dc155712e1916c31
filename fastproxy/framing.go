package fastproxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Strict HTTP/1.1 framing at the edge (RFC 9112).
//
// fasthttp v1.78 already answers 400 and closes the connection for:
// repeated or malformed Content-Length; a Transfer-Encoding other than
// "chunked" or "identity", or repeated; Transfer-Encoding on HTTP/1.0;
// malformed request lines and methods; bad characters in header names
// other than space; control characters in values; a missing or repeated
// Host. It rejects bad chunk sizes and chunk syntax while the body is read.
//
// What it lets through, and edgeCheckFraming rejects before any backend sees the
// request, is:
//   - Content-Length together with Transfer-Encoding: fasthttp drops the
//     length and reads chunked (RFC 9112 section 6.3 allows that, but a
//     front end that guesses is how requests get smuggled);
//   - Transfer-Encoding: identity, which fasthttp reads as "no body",
//     leaving the body on the wire to be read as the next request;
//   - a space inside a header name ("X Y: z");
//   - obs-fold (a line starting with SP or HTAB), which fasthttp joins;
//   - a protocol other than HTTP/1.0 or HTTP/1.1 ("HTTP/9.1");
//   - an absolute-form target ("GET http://b.test/ HTTP/1.1") whose
//     authority is not the Host header: RFC 9112 section 3.2.2 has the
//     target win while routing and backends read Host, so like HAProxy the
//     edge refuses the disagreement instead of picking one (edgeCheckTarget).
//
// The check reads the head fasthttp keeps as received
// (RequestHeader.RawHeaders) and allocates nothing.

var (
	edgeStrTE  = []byte("transfer-encoding")
	edgeStrCL  = []byte("content-length")
	edgeHTTP11 = []byte("HTTP/1.1")
	edgeHTTP10 = []byte("HTTP/1.0")
)

// edgeFramingError names what is wrong with a request head; "" means nothing.
// Every non-empty value is answered 400 with the connection closed.
type edgeFramingError string

// edgeCheckFraming returns why h must be refused, or "" when it is well framed.
func edgeCheckFraming(h *fasthttp.RequestHeader) edgeFramingError {
	if p := h.Protocol(); !bytes.Equal(p, edgeHTTP11) && !bytes.Equal(p, edgeHTTP10) {
		return "unsupported HTTP version"
	}
	sawTE, sawCL := false, false
	raw := h.RawHeaders()
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) == 0 || line[0] == '\r' {
			continue // the blank line that ends the head
		}
		if line[0] == ' ' || line[0] == '\t' {
			return "obsolete line folding" // RFC 9112 section 5.2
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return "malformed header line"
		}
		name := line[:colon]
		if !edgeIsToken(name) {
			return "invalid header name"
		}
		switch {
		case edgeEqualFold(name, edgeStrTE):
			sawTE = true
		case edgeEqualFold(name, edgeStrCL):
			sawCL = true
		}
	}
	chunked := h.ContentLength() == -1
	switch {
	case sawTE && sawCL:
		return "both Content-Length and Transfer-Encoding"
	case sawTE && !chunked:
		return "Transfer-Encoding other than chunked"
	}
	return ""
}

// edgeCheckTarget refuses an absolute-form request-target whose authority
// differs from the Host header (compared case-insensitively). Origin-form
// targets, by far the most common, cost one byte comparison.
func edgeCheckTarget(req *fasthttp.Request) edgeFramingError {
	uri := req.Header.RequestURI()
	if len(uri) == 0 || uri[0] == '/' || uri[0] == '*' {
		return ""
	}
	if !bytes.Contains(uri, edgeSchemeSep) {
		return "" // authority-form (CONNECT) or malformed: the proxy answers
	}
	if !bytes.EqualFold(req.URI().Host(), req.Header.Host()) {
		return "absolute-form target and Host header disagree"
	}
	return ""
}

// edgeSchemeSep marks an absolute-form request-target.
var edgeSchemeSep = []byte("://")

// edgeIsToken reports whether b is a token (RFC 9110 section 5.6.2).
func edgeIsToken(b []byte) bool {
	for _, c := range b {
		if !edgeTokenChars[c] {
			return false
		}
	}
	return len(b) > 0
}

// edgeTokenChars marks the bytes allowed in a token: tchar.
var edgeTokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// edgeEqualFold compares b with lower, which must be lower-case ASCII.
func edgeEqualFold(b, lower []byte) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if c|0x20 != lower[i] {
			return false
		}
	}
	return true
}
