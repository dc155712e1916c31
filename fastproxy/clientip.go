package fastproxy

import (
	"bytes"
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// trustedNets are the trusted_proxies ranges. Empty means no proxy is
// trusted in particular and incoming X-Forwarded-* are kept as they came.
type trustedNets []netip.Prefix

// parseTrusted reads trusted_proxies; a bare address is taken as a /32 or /128.
func parseTrusted(cidrs []string) (trustedNets, error) {
	var t trustedNets
	for _, s := range cidrs {
		if p, err := netip.ParsePrefix(s); err == nil {
			t = append(t, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %q is neither a CIDR nor an address", s)
		}
		t = append(t, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return t, nil
}

func (t trustedNets) contains(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of the TCP peer, IPv4-mapped IPv6 unmapped.
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}

// client is the real client of a request from peer (clientAddr), reading
// every X-Forwarded-For line of h, joined into buf, when peer is trusted.
func (t trustedNets) client(peer netip.Addr, h *fasthttp.RequestHeader, buf []byte) (netip.Addr, []byte) {
	if len(t) == 0 || !t.contains(peer) {
		return peer, buf
	}
	buf, _ = appendForwardedFor(buf[:0], h)
	return t.clientAddr(peer, buf), buf
}

// xffKey is X-Forwarded-For for fasthttp's PeekAll, which takes a string.
const xffKey = "X-Forwarded-For"

// appendForwardedFor appends the X-Forwarded-For lines of h to dst as one
// list, in order, joined by ", ", and says how many lines there were.
// Repeated lines of a list field mean their values joined (RFC 9110
// section 5.3), and reading only one of them would let a client hide an
// address from the proxy or pick the one a backend reads. Empty lines add
// nothing.
func appendForwardedFor(dst []byte, h *fasthttp.RequestHeader) ([]byte, int) {
	lines := h.PeekAll(xffKey)
	for _, v := range lines {
		if len(v) == 0 {
			continue
		}
		if len(dst) > 0 {
			dst = append(dst, strCommaSpace...)
		}
		dst = append(dst, v...)
	}
	return dst, len(lines)
}

// clientAddr computes the real client once per request. Without
// trusted_proxies it is the peer. With them, and a trusted peer, it is the
// first untrusted address walking X-Forwarded-For from the right (the
// leftmost one when all are trusted); an unparsable entry stops the walk,
// since nothing left of it can be believed either.
func (t trustedNets) clientAddr(peer netip.Addr, xff []byte) netip.Addr {
	if len(t) == 0 || !t.contains(peer) {
		return peer
	}
	client := peer
	for len(xff) > 0 {
		var tok []byte
		if i := bytes.LastIndexByte(xff, ','); i >= 0 {
			tok, xff = xff[i+1:], xff[:i]
		} else {
			tok, xff = xff, nil
		}
		a, ok := parseAddr(bytes.TrimSpace(tok))
		if !ok {
			return client
		}
		client = a.Unmap()
		if !t.contains(client) {
			return client
		}
	}
	return client
}

// parseAddr parses b as an IP address without copying it: ParseAddr's
// argument escapes (a zone is interned), so string(b) would allocate on
// every request from a trusted proxy. The view is safe because nothing
// keeps it: unique.Make clones the zone, and the error, which holds the
// text, is dropped here.
func parseAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	return a, err == nil
}

// setForwarded writes X-Forwarded-For, -Proto and -Host. It runs after
// hop-by-hop removal and plugins' request phase, so neither a client's
// Connection header nor a plugin can remove what it adds. With
// trusted_proxies set, the X-Forwarded-* of an untrusted peer are dropped
// first; without, the incoming X-Forwarded-For is kept and the peer
// appended (as nginx's $proxy_add_x_forwarded_for and httputil do).
// Proto and Host are kept only when a trusted proxy sent them. Several
// incoming X-Forwarded-For lines leave as one, as httputil sends them: a
// backend reading the last line must not get an address of the client's
// choosing.
func (t trustedNets) setForwarded(h *fasthttp.RequestHeader, peer netip.Addr, tls bool, buf []byte) []byte {
	trustedPeer := len(t) > 0 && t.contains(peer)
	if len(t) > 0 && !trustedPeer {
		h.DelBytes(hdrXForwardedFor)
		h.DelBytes(hdrXForwardedProto)
		h.DelBytes(hdrXForwardedHost)
		h.DelBytes(hdrXForwardedPort)
	}
	buf, lines := appendForwardedFor(buf[:0], h)
	if len(buf) > 0 {
		buf = append(buf, strCommaSpace...)
	}
	buf = peer.AppendTo(buf)
	if lines > 1 {
		// SetCanonical would replace the first line only; buf holds a
		// copy of them all.
		h.DelBytes(hdrXForwardedFor)
	}
	h.SetCanonical(hdrXForwardedFor, buf)
	if !trustedPeer || len(h.PeekBytes(hdrXForwardedProto)) == 0 {
		if tls {
			h.SetCanonical(hdrXForwardedProto, strHTTPS)
		} else {
			h.SetCanonical(hdrXForwardedProto, strHTTP)
		}
	}
	if !trustedPeer || len(h.PeekBytes(hdrXForwardedHost)) == 0 {
		if host := h.Host(); len(host) > 0 {
			h.SetCanonical(hdrXForwardedHost, host)
		} else {
			// No Host (HTTP/1.0): nothing to pass on, and a client's own
			// must not stand in for it.
			h.DelBytes(hdrXForwardedHost)
		}
	}
	return buf
}
