package adapter

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/valyala/bytebufferpool"
)

// Response returns the net/http view of ctx.Response, converting it on the
// first call; later calls return the same pointer. It looks as net/http's
// client would return it for the same bytes: Status is the status line
// after the protocol ("200 OK"), a chunked body shows as TransferEncoding
// ["chunked"] with ContentLength -1, a body of unknown length has
// ContentLength -1, an empty one is http.NoBody.
//
// Request is the very *http.Request of the request phase, so a context a
// plugin attached there with *req = *req.WithContext(ctx) is seen through
// resp.Request.Context(). If the request phase never converted the
// request, Response converts it now (as it was forwarded), so Request is
// never nil.
func (x *Exchange) Response() *http.Response {
	if !x.resDone {
		x.resDone = true
		x.convertResponse()
	}
	return &x.res
}

func (x *Exchange) convertResponse() {
	req := x.Request() // before b is reused for the response
	fr, b := &x.ctx.Response, &x.b
	b.reset()
	code := fr.StatusCode()
	p0, p1 := b.add(fr.Header.Protocol())
	status, s0, s1 := statusLine(code, fr.Header.StatusMessage()), 0, 0
	if status == "" {
		s0 = len(b.buf)
		b.buf = strconv.AppendInt(b.buf, int64(code), 10)
		b.buf = append(b.buf, ' ')
		b.buf = append(b.buf, fr.Header.StatusMessage()...)
		s1 = len(b.buf)
	}
	for k, v := range fr.Header.All() {
		b.addField(k, v)
	}
	s := b.arena()
	vals := make([]string, len(b.spans))
	b.values(s, vals)

	r := &x.res
	r.StatusCode, r.Status = code, status
	if status == "" {
		r.Status = s[s0:s1]
	}
	r.Proto = s[p0:p1]
	r.ProtoMajor, r.ProtoMinor = protoVersion(r.Proto)
	r.Header = header(&x.resHeader)
	conn, n := x.fillResponseHeader(r, s, vals)
	r.Close = r.Close || shouldClose(r.ProtoMajor, r.ProtoMinor, conn)
	r.Request = req

	r.ContentLength = int64(fr.Header.ContentLength())
	if r.TransferEncoding != nil || r.ContentLength < 0 {
		r.ContentLength = -1
	}
	// As net/http's client (fixLength): these answers have no body whatever
	// they announce, and a HEAD answer's length describes a GET's body.
	noBody := code/100 == 1 || code == 204 || code == 304 || req.Method == "HEAD"
	if noBody && req.Method != "HEAD" {
		r.ContentLength = 0
	}
	r.Body = http.NoBody
	if r.ContentLength != 0 && !noBody {
		if fr.IsBodyStream() {
			x.resBody.bindStream(fr.BodyStream())
		} else {
			x.resBody.bindBuffered(fr)
		}
		r.Body = &x.resBody
	}
	x.snapResponse(s, n)
}

// fillResponseHeader puts the grouped header lines into r.Header, keeping
// out what net/http's client keeps apart: Transfer-Encoding, Content-Length
// and Trailer next to chunked, and a Connection that says close (the
// client reports it in Close only). It returns the Connection values put
// into r.Header and the number of keys put there.
func (x *Exchange) fillResponseHeader(r *http.Response, s string, vals []string) (conn []string, n int) {
	chunked := x.b.ids.has(idTransferEncoding)
	for i := range x.b.groups {
		g := &x.b.groups[i]
		v := vals[g.a:g.z:g.z]
		if g.id-1 < idConnection { // the first six interned keys
			switch {
			case g.id == idTransferEncoding:
				r.TransferEncoding = v[:1]
				r.TransferEncoding[0] = "chunked"
				continue
			case g.id == idContentLength && chunked:
				continue
			case g.id == idTrailer && chunked:
				r.Trailer = trailerKeys(v)
				continue
			case g.id == idConnection && hasToken(v, "close"):
				r.Close = true
				continue
			case g.id == idConnection:
				conn = v
			}
		}
		r.Header[g.key(s)] = v
		x.resSnap.mapped(g, i)
		n++
	}
	x.b.sweep(r.Header, s, n)
	return conn, n
}

func (x *Exchange) snapResponse(arena string, inMap int) {
	r, s := &x.res, &x.resSnap
	s.status, s.statusText = r.StatusCode, r.Status
	s.contentLength = r.ContentLength
	s.body = r.Body
	s.takeHeader(arena, &x.b, inMap)
}

// ApplyResponse writes what a plugin changed in Response() back into
// ctx.Response: StatusCode (100-999; others are ignored) and Status, Header
// lines, and Body or ContentLength. Unchanged parts are not touched. It
// does nothing if Response was never called or after Abandon.
// Content-Length, Transfer-Encoding and Trailer entries in Header are
// ignored, as in net/http's Response.Write.
//
// A replaced Body may wrap resp.Body, as ApplyRequest describes. When the
// backend's answer streams (fastproxy's backend body), the replacement
// streams to the client as it is read, chunked unless the plugin set a
// new ContentLength, and so does a body the plugin read part of (what it
// read, then the rest); the backend's stream and x stay in use until
// fasthttp has sent the body (see Release). Otherwise a replacement is
// read in full here, before the backend's body is reset, and its length
// becomes Content-Length. If that read fails, ApplyResponse returns a
// *BodyError and leaves the body as it was: sending what was read with
// its length would pass a cut body off as whole.
func (x *Exchange) ApplyResponse() error {
	if !x.resDone || x.abandoned {
		return nil
	}
	r, s, fr := &x.res, &x.resSnap, &x.ctx.Response
	if r.StatusCode != s.status && r.StatusCode >= 100 && r.StatusCode <= 999 {
		// Codes net/http's WriteHeader would refuse (it panics) are ignored.
		fr.SetStatusCode(r.StatusCode)
		if r.Status == s.statusText {
			fr.Header.SetStatusMessage(nil) // fasthttp writes the standard text
		}
	}
	if r.Status != s.statusText {
		_, msg, _ := strings.Cut(r.Status, " ")
		fr.Header.SetStatusMessage([]byte(sanitize(msg)))
	}
	if r.Header != nil {
		s.applyHeader(r.Header, &fr.Header, responseIgnored)
	}
	switch {
	case r.Body != s.body:
		if k, ok := x.resBody.stream.(keeper); ok && r.Body != nil && r.Body != http.NoBody && x.out.x == nil {
			// A streamed answer's replacement streams too (it may wrap it).
			// (After an earlier ApplyResponse did that, a new replacement
			// is read whole below, before that stream is closed.)
			x.resBody.stopRecording()
			n := int64(-1)
			if r.ContentLength >= 0 && r.ContentLength != s.contentLength {
				n = r.ContentLength
			}
			x.streamResponse(k, nil, r.Body, r.Body, n)
			break
		}
		n, err := replaceBody(fr, r.Body, &x.resBody)
		if err != nil {
			return err
		}
		fr.Header.SetContentLength(n)
		// r.Body now reads what the client will be sent (see ApplyRequest).
		x.resBody.rebindBuffered(fr)
		r.Body = &x.resBody
	case x.resBody.consumed():
		if err := x.resBody.streamFailed(); err != nil {
			return &BodyError{Err: err, Original: true}
		}
		if k, ok := x.resBody.stream.(keeper); ok && x.out.x == nil {
			// What the plugin read, then the rest, as for a request; a
			// lowered ContentLength cuts it, a raised one is not applied.
			n := s.contentLength
			if c := r.ContentLength; c >= 0 && (n < 0 || c < n) {
				n = c
			}
			var head []byte
			if x.resBody.rec != nil {
				head = x.resBody.rec.B
			}
			x.streamResponse(k, head, x.resBody.stream, nil, n)
			break
		}
		rec := x.resBody.rec
		if rec == nil {
			rec = bytebufferpool.Get()
			x.resBody.rec = rec
		}
		if _, err := io.Copy(rec, x.resBody.stream); err != nil {
			return &BodyError{Err: err, Original: true}
		}
		fr.SetBody(rec.B)
		if r.ContentLength != s.contentLength {
			truncate(fr, r.ContentLength)
		}
	case r.ContentLength != s.contentLength:
		truncate(fr, r.ContentLength)
	}
	// What is applied is the new baseline (see ApplyRequest).
	s.status = r.StatusCode
	if r.Status != s.statusText {
		s.statusText = r.Status
	}
	s.body, s.contentLength = r.Body, r.ContentLength
	x.resBody.read = false
	return nil
}

// streamResponse makes the response's body head and then src, n bytes
// long (-1: until src ends, chunked), read as the client is sent it; the
// backend's stream k stays open until then (see outStream).
func (x *Exchange) streamResponse(k keeper, head []byte, src io.Reader, closer io.Closer, n int64) {
	k.KeepOpen()
	x.out = outStream{x: x, backend: k, r: replayReader{head: head, stream: src, left: n, closer: closer}}
	x.ctx.Response.SetBodyStream(&x.out, int(n))
}

func responseIgnored(key string) bool {
	switch key {
	case "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// statusLines holds "200 OK" and the like for every code with a standard
// text, built once so the common Status costs no allocation.
var statusLines = func() (t [600]string) {
	for code := range t {
		if text := http.StatusText(code); text != "" {
			t[code] = strconv.Itoa(code) + " " + text
		}
	}
	return t
}()

// statusLine returns the shared Status string for code when msg is empty
// (fasthttp then writes the standard text) or the standard text itself,
// and "" otherwise.
func statusLine(code int, msg []byte) string {
	if code < 0 || code >= len(statusLines) || statusLines[code] == "" {
		return ""
	}
	if len(msg) == 0 || string(msg) == http.StatusText(code) {
		return statusLines[code]
	}
	return ""
}
