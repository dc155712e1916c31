package fastproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/spillway-lb/spillway/balancer"
	"github.com/valyala/fasthttp"
)

// Protocol upgrades (RFC 9110 section 7.8), WebSocket's handshake among
// them. A request that asks to switch protocols takes the ordinary path
// (routing, middleware, plugins, header rules, balancing, retries), with
// the Connection: Upgrade and Upgrade headers that hop-by-hop removal took
// off put back at once; whatever removes Upgrade on the way (a plugin, a
// remove_request_headers rule) makes it an ordinary request, as a 101
// is then refused (checkSwitch). A backend that answers 101
// hands over its connection: the transport gives it to the proxy as the
// 101's body stream (backendTunnel), the proxy puts the Upgrade headers
// back on the answer, and the edge, once the 101 is written, takes the
// client's connection from fasthttp and joins the two (tunnel.go).
// Upgrading is HTTP/1.1 only, and a request with a body is forwarded as an
// ordinary one: the backend would read the body as the new protocol.

var (
	hdrUpgrade = []byte("Upgrade")
	strUpgrade = []byte("Upgrade")
)

// upgradeBits are the hop-by-hop bits of Connection and Upgrade: a request
// without both cannot ask for an upgrade.
var upgradeBits = hopByHopBit(hdrConnection) | hopByHopBit(hdrUpgrade)

// upgradeRequested appends to dst the protocols h asks to switch to, when
// it asks: an HTTP/1.1 request without a body whose Connection lists
// "upgrade" and whose Upgrade is a non-empty list of visible ASCII.
// present is h's hop-by-hop bits (requestHopByHop), so that a request
// without the two headers, nearly every one, costs one test.
func upgradeRequested(h *fasthttp.RequestHeader, present uint16, dst []byte) []byte {
	if present&upgradeBits != upgradeBits || !h.IsHTTP11() {
		return dst
	}
	if n := h.ContentLength(); n != 0 && n != -2 { // -2: no length, no chunking, so no body
		return dst
	}
	if !hasToken(h.Peek("Connection"), strUpgrade) {
		return dst
	}
	v := bytes.TrimSpace(h.PeekBytes(hdrUpgrade))
	if len(v) == 0 {
		return dst
	}
	for _, c := range v {
		if c < ' ' || c > '~' {
			return dst
		}
	}
	return append(dst, v...)
}

// setUpgrade puts back on a header the pair that names proto as the
// protocol switched, or asked, to.
func setUpgrade(h interface{ SetCanonical(key, value []byte) }, proto []byte) {
	h.SetCanonical(hdrConnection, strUpgrade)
	h.SetCanonical(hdrUpgrade, proto)
}

// hasToken reports whether the comma-separated list v holds tok, in any case.
func hasToken(v, tok []byte) bool {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if bytes.EqualFold(bytes.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

// errUnaskedSwitch is a 101 to a request that asked for no upgrade. The
// connection speaks something else from then on, so it is closed, never
// pooled, and the client gets 502.
var errUnaskedSwitch = errors.New("backend switched protocols (101) though the request asked for no upgrade")

// checkSwitch reports what is wrong with a 101 answer to req, or nil: the
// request must have asked for an upgrade and the answer must name one of
// the protocols it asked for (RFC 9110 section 7.8).
func checkSwitch(req *fasthttp.RequestHeader, resp *fasthttp.ResponseHeader) error {
	asked := req.PeekBytes(hdrUpgrade)
	if len(asked) == 0 {
		return errUnaskedSwitch
	}
	got := bytes.TrimSpace(resp.PeekBytes(hdrUpgrade))
	if len(got) == 0 || bytes.IndexByte(got, ',') >= 0 || !hasToken(asked, got) {
		return fmt.Errorf("backend switched to protocol %q, the request asked for %q", got, asked)
	}
	return nil
}

// dropSwitch undoes a 101 that a plugin or middleware answered in place
// of: the backend's switched connection closes (with the body, unless the
// answer has one of its own already) and the answer loses the Upgrade
// pair the proxy put on it.
func dropSwitch(resp *fasthttp.Response) {
	if _, ok := resp.BodyStream().(tunnelEnd); ok {
		resp.ResetBody()
	}
	resp.Header.DelBytes(hdrUpgrade)
	if bytes.Equal(resp.Header.PeekBytes(hdrConnection), strUpgrade) {
		resp.Header.DelBytes(hdrConnection)
	}
}

// tunnelEnd is the backend's end of a switched connection as the edge
// finds it in a 101 answer's body stream.
type tunnelEnd interface {
	net.Conn
	// buffered is what the backend sent after its 101 head and the
	// transport has already read.
	buffered() []byte
}

// backendTunnel is the backend connection of a 101 answer, handed to the
// proxy as the answer's body stream. It is never pooled: closing it, which
// fasthttp does when it releases the exchange (after the tunnel ended, or
// when the 101 is not sent), closes the connection and ends the request's
// count in the balancer. Reads and writes go straight to the connection,
// whose idleConn re-arms backend_response on each.
type backendTunnel[C interface{ Conn() net.Conn }] struct {
	net.Conn
	t  *streamTransport[C]
	hc *fasthttp.HostClient
	cc C
	br *bufio.Reader
	// rest is br's buffered bytes, copied when br goes back to its pool.
	rest []byte

	pool *balancer.Pool
	pb   *balancer.Backend
	once sync.Once
}

func newBackendTunnel[C interface{ Conn() net.Conn }](t *streamTransport[C], hc *fasthttp.HostClient, cc C, br *bufio.Reader) *backendTunnel[C] {
	b := &backendTunnel[C]{Conn: cc.Conn(), t: t, hc: hc, cc: cc}
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		b.rest = bytes.Clone(p)
	}
	// The reader's 32 KiB go back to the pool at once: a tunnel may stay
	// open for hours.
	hc.ReleaseReader(br)
	return b
}

func (b *backendTunnel[C]) buffered() []byte { return b.rest }

func (b *backendTunnel[C]) holdInflight(p *balancer.Pool, pb *balancer.Backend) {
	b.pool, b.pb = p, pb
}

// CloseWithError implements fasthttp.ReadCloserWithError: fasthttp calls it
// when it lets go of the answer.
func (b *backendTunnel[C]) CloseWithError(error) error { return b.Close() }

// Close closes the backend connection and ends the request's count, once.
func (b *backendTunnel[C]) Close() error {
	b.once.Do(func() {
		b.t.close(b.cc)
		if b.pool != nil {
			b.pool.Release(b.pb)
		}
	})
	return nil
}
