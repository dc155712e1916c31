package fastproxy

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzEdgeFraming checks the framing the edge accepts against Go's own
// HTTP/1.1 parser: whenever fasthttp parses a head, the edge lets it
// through and net/http parses it too, both must agree on how the body is
// framed (none, a length, or chunked). A disagreement is how a request is
// smuggled past one parser to another.
func FuzzEdgeFraming(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\nabc",
		"POST / HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 1\r\nContent-Length: 1\r\n\r\na",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return
		}
		if edgeCheckFraming(&h) != "" {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		chunked := len(req.TransferEncoding) > 0
		switch cl := h.ContentLength(); {
		case cl == -1 && !chunked:
			t.Fatalf("edge reads chunked, net/http reads length %d: %q", req.ContentLength, raw)
		case cl != -1 && chunked:
			t.Fatalf("edge reads length %d, net/http reads chunked: %q", cl, raw)
		case cl >= 0 && int64(cl) != req.ContentLength:
			t.Fatalf("edge reads length %d, net/http %d: %q", cl, req.ContentLength, raw)
		case cl == -2 && req.ContentLength != 0:
			t.Fatalf("edge reads no body, net/http length %d: %q", req.ContentLength, raw)
		}
	})
}
