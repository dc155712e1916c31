package fastproxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Dot segments ("." and "..", plain or percent-encoded as %2e) in a
// request path are resolved before routing (RFC 3986, Section 5.2.4), and
// the resolved path is what plugins see and what is forwarded. Routing on
// the raw path while the backend resolves it would let
// "/public/../admin/x" be matched by location /public/ and served by the
// backend as /admin/x, past whatever the proxy decides per location, and
// let "/static/../private" leave the backend URL's own path. Browsers and
// curl resolve dot segments before sending; requests that still carry
// them mostly come from scanners. The query is never touched, and nor are
// "//" (nginx merges them; a backend may give them meaning) and encoded
// slashes.

// hasDotSegment reports whether path holds a segment that is "." or "..",
// with any of its dots percent-encoded. A path with neither '.' nor '%',
// nearly every one, costs two byte scans.
func hasDotSegment(path []byte) bool {
	if bytes.IndexByte(path, '.') < 0 && bytes.IndexByte(path, '%') < 0 {
		return false
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '/' {
			continue
		}
		seg := path[i+1:]
		if j := bytes.IndexByte(seg, '/'); j >= 0 {
			seg = seg[:j]
		}
		if dots(seg) > 0 {
			return true
		}
	}
	return false
}

// dots returns 1 for a segment "." and 2 for "..", each dot plain or
// written %2e or %2E; 0 for any other segment.
func dots(seg []byte) int {
	n := 0
	for len(seg) > 0 && n < 3 {
		switch {
		case seg[0] == '.':
			seg = seg[1:]
		case len(seg) >= 3 && seg[0] == '%' && seg[1] == '2' && seg[2]|0x20 == 'e':
			seg = seg[3:]
		default:
			return 0
		}
		n++
	}
	if len(seg) > 0 || n > 2 {
		return 0
	}
	return n
}

// appendCleanPath appends path, which starts with '/', with its dot
// segments resolved: "." is dropped, ".." drops the segment before it (none
// above the root), and a path ending in either keeps its trailing slash, as
// RFC 3986 resolves them.
func appendCleanPath(dst, path []byte) []byte {
	root := len(dst)
	for len(path) > 0 {
		seg := path[1:]
		end := bytes.IndexByte(seg, '/')
		if end < 0 {
			end = len(seg)
		}
		seg, path = seg[:end], seg[end:]
		switch dots(seg) {
		case 0:
			dst = append(dst, '/')
			dst = append(dst, seg...)
			continue
		case 2:
			if k := bytes.LastIndexByte(dst[root:], '/'); k >= 0 {
				dst = dst[:root+k]
			}
		}
		if len(path) == 0 {
			dst = append(dst, '/')
		}
	}
	if len(dst) == root {
		dst = append(dst, '/')
	}
	return dst
}

// appendCleanTarget appends the request-target uri with its path's dot
// segments resolved and its query as it is; uri is in origin form (the
// absolute form's scheme and authority are dropped, as splitRequestURI
// drops them: Host says where it goes).
func appendCleanTarget(dst, uri []byte) []byte {
	path, query := splitRequestURI(uri)
	dst = appendCleanPath(dst, path)
	return append(dst, query...)
}

// forwarded returns the request-target that goes on to the backend.
func (s *pathScratch) forwarded() []byte {
	if s.rewritten {
		return s.fwd
	}
	return s.uri
}

// takePluginTarget keeps the request-target a plugin put in req (through
// r.URL or r.RequestURI), which the location then maps as it maps the
// client's: the location is not chosen again. Its dot segments are
// resolved too, so that what is forwarded never holds any.
func (s *pathScratch) takePluginTarget(req *fasthttp.Request) {
	u := req.Header.RequestURI()
	if bytes.Equal(u, s.forwarded()) {
		return
	}
	if path, _ := splitRequestURI(u); hasDotSegment(path) {
		s.fwd = appendCleanTarget(s.fwd[:0], u)
	} else {
		s.fwd = append(s.fwd[:0], u...)
	}
	s.rewritten = true
}

// restoreURI puts the client's own request-target back in req, for the
// access log, when the proxy or a plugin replaced it.
func (s *pathScratch) restoreURI(req *fasthttp.Request) {
	if s.rewritten {
		req.SetRequestURIBytes(s.uri)
	}
}
