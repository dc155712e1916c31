package adapter

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// Request returns the net/http view of ctx.Request, converting it on the
// first call; later calls return the same pointer. The request looks as
// net/http's server would hand it to a handler for the same bytes: Host is
// taken out of Header, a chunked body shows as TransferEncoding
// ["chunked"] with ContentLength -1, URL.Scheme and URL.Host are empty
// for origin-form targets. Body reads fasthttp's buffered body or, when
// the server streams request bodies, the stream itself, and only when a
// plugin reads it. Context returns a context that carries a copy of
// fasthttp's user values as they are at conversion, and is canceled once
// the exchange ends.
//
// A target that net/url rejects (net/http would answer 400, fasthttp lets
// it through) shows its raw path and query in URL.
func (x *Exchange) Request() *http.Request {
	if !x.reqDone {
		x.reqDone = true
		x.convertRequest()
	}
	return &x.req
}

// convertRequest copies every string of ctx.Request into one arena string
// and builds x.req from slices of it and interned keys.
func (x *Exchange) convertRequest() {
	x.bindUserValues() // first: it replaces x.req
	fr, b := &x.ctx.Request, &x.b
	b.reset()
	// The header is read from fasthttp's own serialization of it, parsed
	// in place in scratch and then compacted into the arena, rather than
	// from its All iterator: All moves Cookie lines to the end of the
	// header (it parses them), which would change the forwarded bytes, and
	// it joins several Cookie lines into one.
	// The target is the header's, as the client sent it (net/http's view),
	// not Request.RequestURI, which rebuilds it from the parsed and
	// normalized URI and would rewrite the forwarded request line.
	b.buf = fr.Header.AppendBytes(b.buf)
	m1, u0, u1, p0, p1 := b.parseHead(&fr.Header)
	a0 := len(b.buf)
	b.buf = appendAddr(b.buf, x.ctx.RemoteAddr())
	a1 := len(b.buf)
	if len(fr.Header.UserAgent()) == 0 && rawHas(fr.Header.RawHeaders(), "user-agent", "") {
		// fasthttp keeps an empty User-Agent line but does not write it.
		b.push(idUserAgent, 0, 0, a1, a1)
	}
	if v, ok := b.field(idPragma); ok && string(b.buf[v.v0:v.v1]) == "no-cache" && !b.ids.has(idCacheControl) {
		// As net/http: "Pragma: no-cache" without Cache-Control means
		// "Cache-Control: no-cache" (RFC 7234, Section 5.4); the Pragma
		// value's bytes serve for it.
		b.push(idCacheControl, 0, 0, int(v.v0), int(v.v1))
	}
	s := b.compact(p1, a0, a1)
	vals := make([]string, len(b.spans))
	b.values(s, vals)

	r := &x.req
	r.Method, r.RequestURI, r.Proto = s[:m1], s[u0:u1], s[p0:p1]
	r.ProtoMajor, r.ProtoMinor = protoVersion(r.Proto)
	r.RemoteAddr = s[len(s)-(a1-a0):] // compact puts it last
	r.Header = header(&x.reqHeader)
	hostHeader, conn, n := x.fillRequestHeader(r, s, vals)

	parseURI(&x.reqURL, r.RequestURI, r.Method)
	r.URL = &x.reqURL
	r.Host = x.reqURL.Host
	if r.Host == "" {
		r.Host = hostHeader
	}
	r.Close = shouldClose(r.ProtoMajor, r.ProtoMinor, conn)

	r.ContentLength = 0
	if r.TransferEncoding != nil {
		r.ContentLength = -1
	} else if n := fr.Header.ContentLength(); n > 0 {
		r.ContentLength = int64(n)
	}
	r.Body = http.NoBody
	if r.ContentLength != 0 {
		if fr.IsBodyStream() {
			x.reqBody.bindStream(fr.BodyStream())
		} else {
			x.reqBody.bindBuffered(fr)
		}
		r.Body = &x.reqBody
	}
	if x.ctx.IsTLS() {
		r.TLS = x.ctx.TLSConnectionState() // one allocation, TLS only
	}
	x.snapRequest(s, n)
}

// fillRequestHeader puts the grouped header lines into r.Header and the
// fields net/http keeps apart (Host, Transfer-Encoding, Trailer, and
// Content-Length next to chunked), and returns the first Host value, the
// Connection values and the number of keys put into r.Header.
func (x *Exchange) fillRequestHeader(r *http.Request, s string, vals []string) (host string, conn []string, n int) {
	chunked := x.b.ids.has(idTransferEncoding)
	var trailer []string
	for i := range x.b.groups {
		g := &x.b.groups[i]
		v := vals[g.a:g.z:g.z]
		if g.id-1 < idTrailer { // Host, Content-Length, Transfer-Encoding, Trailer
			switch {
			case g.id == idHost:
				host = v[0]
				continue
			case g.id == idTransferEncoding:
				// net/http accepts only "chunked" and spells it in lower case.
				r.TransferEncoding = v[:1]
				r.TransferEncoding[0] = "chunked"
				continue
			case !chunked:
			case g.id == idContentLength:
				continue // a chunked body has no length (RFC 9112, Section 6.3)
			case g.id == idTrailer:
				trailer = v
				continue
			}
		}
		if g.id == idConnection {
			conn = v
		}
		r.Header[g.key(s)] = v
		x.reqSnap.mapped(g, i)
		n++
	}
	x.b.sweep(r.Header, s, n)
	if trailer != nil {
		r.Trailer = trailerKeys(trailer)
	}
	return host, conn, n
}

// snapRequest records what the plugin is given, for ApplyRequest.
func (x *Exchange) snapRequest(arena string, inMap int) {
	r, s := &x.req, &x.reqSnap
	s.method, s.host, s.requestURI = r.Method, r.Host, r.RequestURI
	s.takeURL(&x.reqURL)
	s.contentLength = r.ContentLength
	s.body = r.Body
	s.takeHeader(arena, &x.b, inMap)
}

// ApplyRequest writes what a plugin changed in Request() back into
// ctx.Request: Method, URL (Path, RawPath, RawQuery; or RequestURI if only
// that changed), Host, Header lines, and Body or ContentLength. Unchanged
// parts are not touched, so an unchanged request goes on byte for byte.
// It does nothing if Request was never called or after Abandon.
//
// Header, Host, Content-Length, Transfer-Encoding and Trailer entries in
// Header are ignored as net/http's client ignores them; set r.Host or
// r.ContentLength instead. URL.Scheme and URL.Host do not choose the
// backend (the balancer does); a URL.Host is used as Host only when a
// plugin clears r.Host. Control characters in values become spaces.
//
// A replaced Body may wrap the original one (http.MaxBytesReader,
// io.MultiReader, io.TeeReader), whose reads then get the client's bytes,
// buffered or streamed. Up to 64 KiB (replaceInline) it is read here, held
// whole and forwarded with its real length as Content-Length; a longer one
// streams to the backend (see replaceRequestBody). The adapter does not
// know limits.max_body_bytes; a plugin that makes a body from an unbounded
// source bounds it itself (http.MaxBytesReader). If the read here fails
// (the limit of a MaxBytesReader, a client that broke off its upload),
// ApplyRequest returns a *BodyError and leaves the body as it was, with
// the rest of the request written back: the request must not be
// forwarded.
func (x *Exchange) ApplyRequest() error {
	if !x.reqDone || x.abandoned {
		return nil
	}
	// What is applied becomes the new baseline, so a second ApplyRequest
	// does not read a replaced body twice (header write-back is
	// idempotent). A part is recorded only when it changed: most are
	// strings, and a pointer written while the collector marks costs more.
	r, s, fr := &x.req, &x.reqSnap, &x.ctx.Request
	if r.Method != s.method {
		fr.Header.SetMethod(r.Method)
		s.method = r.Method
	}
	if r.URL != nil && s.urlChanged(r.URL) {
		fr.SetRequestURI(r.URL.RequestURI())
		s.takeURL(r.URL)
	} else if r.RequestURI != s.requestURI && r.RequestURI != "" {
		fr.SetRequestURI(r.RequestURI)
	}
	if r.RequestURI != s.requestURI {
		s.requestURI = r.RequestURI
	}
	if r.Host != s.host {
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host
		}
		fr.Header.SetHost(host)
		fr.SetHost(host)
		s.host = r.Host
	}
	if r.Header != nil {
		s.applyHeader(r.Header, &fr.Header, requestIgnored)
	}
	if err := x.applyRequestBody(); err != nil {
		return err
	}
	s.body, s.contentLength = r.Body, r.ContentLength
	x.reqBody.read = false
	return nil
}

// applyRequestBody hands a replaced body to fasthttp in full, replays a
// stream the plugin consumed part of, or applies a changed ContentLength.
func (x *Exchange) applyRequestBody() error {
	r, s, fr := &x.req, &x.reqSnap, &x.ctx.Request
	switch {
	case r.Body != s.body:
		return x.replaceRequestBody(r.Body, r.ContentLength)
	case fr.IsBodyStream() && (x.reqBody.consumed() || r.ContentLength != s.contentLength):
		// Hand fasthttp the bytes the plugin took, then the rest of the
		// stream; a lowered ContentLength makes fasthttp stop early. A
		// length raised past a sized body is not applied: there are no
		// more bytes to send, and the backend would wait for them.
		x.replay.stream = fr.BodyStream()
		if x.reqBody.rec != nil {
			x.replay.head = x.reqBody.rec.B
		}
		x.replay.left = s.contentLength
		if n := r.ContentLength; n >= 0 && (s.contentLength < 0 || n < s.contentLength) {
			x.replay.left = n
		}
		fr.SetBodyStream(&x.replay, int(x.replay.left))
	case r.ContentLength != s.contentLength:
		truncate(fr, r.ContentLength)
	}
	return nil
}

// replaceInline is the longest replacement request body held whole and
// sent with its real length; a longer one streams, so that a plugin that
// wraps a large upload (a TeeReader that hashes it) does not make the proxy
// hold all of it.
const replaceInline = 64 << 10

// replaceRequestBody makes body, a plugin's replacement, the request's
// body. Up to replaceInline bytes it is read whole (see replaceBody);
// beyond, the bytes read so far and then the rest of body stream to the
// backend, chunked unless the plugin set a ContentLength other than the
// original's (a lower one cuts the body there, as for a buffered body).
// Only a failure within the first replaceInline bytes is a *BodyError; a
// later one fails the forwarding, which leaves the backend's copy of the
// request visibly short, and the stream's PluginFailed tells the proxy
// whether the replacement failed on its own or the client's body under it.
func (x *Exchange) replaceRequestBody(body io.ReadCloser, length int64) error {
	fr := &x.ctx.Request
	if body == nil || body == http.NoBody {
		fr.ResetBody()
		fr.Header.SetContentLength(0)
		return nil
	}
	// Nothing replays the original from here on: its reads through the
	// replacement need no copy.
	x.reqBody.stopRecording()
	b := bytebufferpool.Get()
	if _, err := b.ReadFrom(io.LimitReader(body, replaceInline+1)); err != nil {
		bytebufferpool.Put(b)
		body.Close()
		return &BodyError{Err: err, Original: x.reqBody.streamFailed() != nil}
	}
	if len(b.B) > replaceInline && x.replay.stream != nil {
		// An earlier ApplyRequest handed fasthttp x.replay, which this body
		// may read through: read it whole before that stream is closed.
		if _, err := b.ReadFrom(body); err != nil {
			bytebufferpool.Put(b)
			body.Close()
			return &BodyError{Err: err, Original: x.reqBody.streamFailed() != nil}
		}
	}
	// Either way r.Body then reads what fasthttp will send, so that a
	// plugin that wraps it before another ApplyRequest wraps that.
	if len(b.B) <= replaceInline || x.replay.stream != nil {
		body.Close()
		fr.ResetBody()
		fr.SetBody(b.B) // a copy: b goes back to the pool
		fr.Header.SetContentLength(len(b.B))
		bytebufferpool.Put(b)
		x.reqBody.rebindBuffered(fr)
		x.req.Body = &x.reqBody
		return nil
	}
	x.replayBuf = b
	x.replay = replayReader{head: b.B, stream: body, closer: body, left: -1, replaced: true, orig: &x.reqBody}
	if length >= 0 && length != x.reqSnap.contentLength {
		x.replay.left = length
	}
	fr.SetBodyStream(&x.replay, int(x.replay.left))
	x.req.Body = &x.replay
	return nil
}

// requestIgnored lists the Header keys net/http's Request.Write takes from
// dedicated fields instead.
func requestIgnored(key string) bool {
	switch key {
	case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// bodyTarget is *fasthttp.Request or *fasthttp.Response.
type bodyTarget interface {
	ResetBody()
	SetBody([]byte)
}

// replaceBody makes a plugin's replacement body fr's body and returns its
// length, the new Content-Length. The replacement is read to its end and
// closed, as net/http's client would, into a pooled buffer before anything
// of the original is reset: it may wrap the original (http.MaxBytesReader,
// io.MultiReader, io.TeeReader), whose reads must still find the client's
// or backend's bytes, in fasthttp's buffer or on the stream. ResetBody
// then closes a backend stream, and hands a client stream's read-ahead to
// the server, which drains whatever the replacement left unread. A nil
// body or http.NoBody is empty. A read error leaves fr alone and is
// returned as a *BodyError, Original when orig's stream had failed.
func replaceBody(fr bodyTarget, body io.ReadCloser, orig *bodyReader) (int, error) {
	b := bytebufferpool.Get()
	defer bytebufferpool.Put(b)
	if body != nil && body != http.NoBody {
		_, err := b.ReadFrom(body)
		body.Close()
		if err != nil {
			return 0, &BodyError{Err: err, Original: orig.streamFailed() != nil}
		}
	}
	fr.ResetBody()
	fr.SetBody(b.B) // a copy: b goes back to the pool
	return len(b.B), nil
}

// truncate applies a ContentLength a plugin lowered without replacing the
// body: like net/http's writer, only that many bytes are sent.
func truncate(fr interface {
	Body() []byte
	SetBody([]byte)
}, n int64) {
	if b := fr.Body(); n >= 0 && n < int64(len(b)) {
		fr.SetBody(b[:n])
	}
}

// shouldClose mirrors net/http's reading of Connection for requests.
func shouldClose(major, minor int, conn []string) bool {
	if major < 1 {
		return true
	}
	hasClose := hasToken(conn, "close")
	if major == 1 && minor == 0 {
		return hasClose || !hasToken(conn, "keep-alive")
	}
	return hasClose
}

// hasToken reports whether a comma-separated list in vals holds token.
func hasToken(vals []string, token string) bool {
	for _, v := range vals {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

func protoVersion(proto string) (int, int) {
	switch proto {
	case "HTTP/1.1":
		return 1, 1
	case "HTTP/1.0":
		return 1, 0
	}
	if major, minor, ok := http.ParseHTTPVersion(proto); ok {
		return major, minor
	}
	return 1, 1
}

// trailerKeys builds Request.Trailer from the Trailer header as net/http
// does: announced keys with no values yet.
func trailerKeys(vals []string) http.Header {
	t := make(http.Header)
	for _, v := range vals {
		for key := range strings.SplitSeq(v, ",") {
			if key = http.CanonicalHeaderKey(strings.TrimSpace(key)); key != "" {
				t[key] = nil
			}
		}
	}
	return t
}

// synthetic reports a header line fasthttp writes without the client
// having sent it, which net/http would not show: "Content-Length: 0" for a
// method that may carry a body, "Connection: close" for an HTTP/1.0
// request, and the default Content-Type of a body. Only those lines need
// the scan of the raw header.
func synthetic(h *fasthttp.RequestHeader, id uint8, v []byte) bool {
	switch {
	case id == idContentType && string(v) == "application/octet-stream":
		return !rawHas(h.RawHeaders(), "content-type", "")
	case id == idContentLength && string(v) == "0":
		return !rawHas(h.RawHeaders(), "content-length", "")
	case id == idConnection && string(v) == "close":
		return !rawHas(h.RawHeaders(), "connection", "close")
	}
	return false
}

// rawHas reports whether the raw header block holds a line named name
// (lower case) whose value lists token, or any such line if token is "".
func rawHas(raw []byte, name, token string) bool {
	_, ok := rawValue(raw, name, token)
	return ok
}

// rawValue returns the trimmed value of the first line of the raw header
// block named name (lower case) whose value lists token, or of any such
// line if token is "".
func rawValue(raw []byte, name, token string) ([]byte, bool) {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if ok && strings.EqualFold(string(trimSpace(k)), name) &&
			(token == "" || hasToken([]string{string(v)}, token)) {
			return trimSpace(bytes.TrimSuffix(v, []byte{'\r'})), true
		}
	}
	return nil, false
}

// parseHead pushes the lines of the serialized request header in b.buf
// (canonicalizing keys in place) and returns the offsets of the end of the
// method and of the target and protocol of its first line.
func (b *build) parseHead(h *fasthttp.RequestHeader) (m1, u0, u1, p0, p1 int) {
	w := b.buf
	end := bytes.IndexByte(w, '\n')
	line := w[:end]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	m1 = bytes.IndexByte(line, ' ')
	p0 = bytes.LastIndexByte(line, ' ') + 1
	u0, u1, p1 = m1+1, p0-1, len(line)
	for i := end + 1; i < len(w) && w[i] != '\r' && w[i] != '\n'; {
		// fasthttp writes every line as "Key: value\r\n".
		j := i + bytes.IndexByte(w[i:], '\n')
		c := i + bytes.IndexByte(w[i:j], ':')
		if c < i {
			break // fasthttp writes no such line
		}
		v0, v1 := c+1, j
		for v0 < v1 && (w[v0] == ' ' || w[v0] == '\t') {
			v0++
		}
		for v1 > v0 && (w[v1-1] == '\r' || w[v1-1] == ' ' || w[v1-1] == '\t') {
			v1--
		}
		v := w[v0:v1]
		k := w[i:c]
		id := lookupKey(k)
		if id == idNone && canonicalize(k) {
			id = lookupKey(k)
		}
		switch {
		case id == idNone:
			b.push(id, i, c, v0, v1)
		case (id == idContentType || id == idContentLength || id == idConnection) && synthetic(h, id, v):
		case id == idConnection && string(v) == "close":
			// fasthttp keeps "close" as a flag and writes it in lower
			// case; net/http shows the client's spelling.
			if raw, _ := rawValue(h.RawHeaders(), "connection", "close"); string(raw) != "close" {
				v0, v1 = b.add(raw) // after w; the offsets before stay valid
			}
			b.push(id, 0, 0, v0, v1)
		default:
			b.push(id, 0, 0, v0, v1)
		}
		i = j + 1
	}
	return m1, u0, u1, p0, p1
}
