package fastproxy

import (
	"bytes"
	"sort"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// Header names the proxy reads or writes on every request, kept as []byte
// so the hot path never converts. They are in canonical form, so they may
// be passed to SetCanonical, which skips fasthttp's copy-and-normalize.
var (
	hdrConnection      = []byte("Connection")
	hdrXForwardedFor   = []byte("X-Forwarded-For")
	hdrXForwardedProto = []byte("X-Forwarded-Proto")
	hdrXForwardedHost  = []byte("X-Forwarded-Host")
	hdrXForwardedPort  = []byte("X-Forwarded-Port")
	hdrLocation        = []byte("Location")
	hdrExpect          = []byte("Expect")
	hdrRetryAfter      = []byte("Retry-After")
	strHTTP            = []byte("http")
	strHTTPS           = []byte("https")
	strCommaSpace      = []byte(", ")
)

// hopByHop are the headers of RFC 9110 section 7.6.1 that describe one
// connection, not the message, plus Transfer-Encoding (the proxy re-frames
// bodies itself) and the older Keep-Alive and Proxy-Connection that clients
// still send. Connection comes last so the names it lists are read first.
var hopByHop = [][]byte{
	[]byte("Keep-Alive"),
	[]byte("Proxy-Connection"),
	[]byte("Proxy-Authenticate"),
	[]byte("Proxy-Authorization"),
	[]byte("Te"),
	[]byte("Trailer"),
	[]byte("Transfer-Encoding"),
	[]byte("Upgrade"),
	hdrConnection,
}

// notConnectionOptions are the headers Connection may not delete, besides
// Connection itself: those that route and frame the message. RFC 9110
// section 7.6.1 lets a sender list only fields about the connection, never
// ones meant for every recipient, and deleting these breaks the exchange
// for others than the sender. fasthttp keeps them as header state: without
// Host a request cannot be sent (each such request was counted as the
// backend's failure until it was ejected), and deleting Content-Length
// sets the length to 0, so a large or chunked upload was read whole into
// memory to be held for a retry, and a streamed answer lost its framing.
// Transfer-Encoding is not listed: it is hop-by-hop, removed anyway, and
// bodies are re-framed from the length fasthttp keeps, not from it.
// Anything else (Content-Type, Cookie) the sender may drop from its own
// message, as httputil lets it.
var notConnectionOptions = [][]byte{
	hdrConnection,
	[]byte("Host"),
	[]byte("Content-Length"),
}

// connectionOption reports whether Connection may delete the header tok.
func connectionOption(tok []byte) bool {
	for _, k := range notConnectionOptions {
		if len(k) == len(tok) && bytes.EqualFold(k, tok) {
			return false
		}
	}
	return true
}

// headerEditor is what both fasthttp.RequestHeader and
// fasthttp.ResponseHeader offer, so one function strips either direction.
type headerEditor interface {
	Peek(key string) []byte
	DelBytes(key []byte)
}

// requestHopByHop returns the hop-by-hop bits of a client request, for
// stripHopByHop.
func requestHopByHop(h *fasthttp.RequestHeader) uint16 {
	raw := h.RawHeaders()
	if len(raw) == 0 {
		// Not parsed from the wire: look for everything.
		return 1<<len(hopByHop) - 1
	}
	// Most requests carry none of these headers; one pass over the head
	// as received finds out without fasthttp's per-name lookups.
	var present uint16
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if c := bytes.IndexByte(line, ':'); c > 0 {
			present |= hopByHopBit(line[:c])
		}
	}
	return present
}

// stripResponseHopByHop removes the hop-by-hop headers of a backend response.
func stripResponseHopByHop(h *fasthttp.ResponseHeader) {
	var present uint16
	for k := range h.All() {
		present |= hopByHopBit(k)
	}
	stripHopByHop(h, present)
}

// hopByHopBit returns the bit of the hopByHop entry named key (in any
// case), or 0.
func hopByHopBit(key []byte) uint16 {
	for i, k := range hopByHop {
		if len(k) == len(key) && bytes.EqualFold(k, key) {
			return 1 << i
		}
	}
	return 0
}

// stripHopByHop removes from h every header named in Connection (but those
// of notConnectionOptions), then the entries of hopByHop whose bits are set
// in present.
func stripHopByHop(h headerEditor, present uint16) {
	if present == 0 {
		return
	}
	if present&hopByHopBit(hdrConnection) != 0 {
		// The value is a view into h; deleting other headers moves
		// entries but never overwrites their bytes, and Connection itself
		// goes last.
		conn := h.Peek("Connection")
		for len(conn) > 0 {
			var tok []byte
			if i := bytes.IndexByte(conn, ','); i >= 0 {
				tok, conn = conn[:i], conn[i+1:]
			} else {
				tok, conn = conn, nil
			}
			tok = bytes.TrimSpace(tok)
			if len(tok) > 0 && connectionOption(tok) {
				h.DelBytes(tok)
			}
		}
	}
	for i, k := range hopByHop {
		if present&(1<<i) != 0 {
			h.DelBytes(k)
		}
	}
}

// headerKV is one header to set, in canonical order.
type headerKV struct{ key, value []byte }

// headerRules are a service's header rules, prepared once so applying them
// allocates nothing. The zero value does nothing.
type headerRules struct {
	setRequest     []headerKV
	removeRequest  [][]byte
	setResponse    []headerKV
	removeResponse [][]byte
}

// newHeaderRules prepares h (which may be nil). Set lists are sorted by
// name so the result does not depend on map order.
func newHeaderRules(h *configs.Headers) headerRules {
	var r headerRules
	if h == nil {
		return r
	}
	r.setRequest = sortedKVs(h.RequestHeaders)
	r.setResponse = sortedKVs(h.ResponseHeaders)
	for _, k := range h.RemoveRequestHeaders {
		r.removeRequest = append(r.removeRequest, []byte(k))
	}
	for _, k := range h.RemoveResponseHeaders {
		r.removeResponse = append(r.removeResponse, []byte(k))
	}
	return r
}

func sortedKVs(m map[string]string) []headerKV {
	kvs := make([]headerKV, 0, len(m))
	for k, v := range m {
		kvs = append(kvs, headerKV{[]byte(k), []byte(v)})
	}
	sort.Slice(kvs, func(i, j int) bool { return bytes.Compare(kvs[i].key, kvs[j].key) < 0 })
	return kvs
}

// headerSetter is the setting half of both fasthttp header types.
type headerSetter interface {
	headerEditor
	SetBytesKV(key, value []byte)
}

// apply removes, then sets, so a rule may replace a header it also removes.
func applyHeaderRules(h headerSetter, remove [][]byte, set []headerKV) {
	for _, k := range remove {
		h.DelBytes(k)
	}
	for i := range set {
		h.SetBytesKV(set[i].key, set[i].value)
	}
}
