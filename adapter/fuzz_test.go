package adapter

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzRoundTrip checks that converting a request and its response, reading
// every field and both bodies, and writing back with no change leaves both
// byte-identical on the wire (HTTP/1.1 serialization by fasthttp).
func FuzzRoundTrip(f *testing.F) {
	for i, rc := range requestCases {
		f.Add(rc.raw, responseCases[i%len(responseCases)].raw)
	}
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 50123}
	f.Fuzz(func(t *testing.T, rawReq, rawRes string) {
		var req fasthttp.Request
		if req.Read(bufio.NewReader(strings.NewReader(rawReq))) != nil {
			return
		}
		var res fasthttp.Response
		if res.Read(bufio.NewReader(strings.NewReader(rawRes))) != nil {
			return
		}
		var plain, converted fasthttp.RequestCtx
		plain.Init(&req, remote, nil)
		converted.Init(&req, remote, nil)
		res.CopyTo(&plain.Response)
		res.CopyTo(&converted.Response)

		x := Acquire(&converted)
		r := x.Request()
		io.ReadAll(r.Body) //nolint:errcheck
		_ = r.URL.String() + r.Host + r.RemoteAddr + r.Header.Get("Accept")
		resp := x.Response()
		io.ReadAll(resp.Body) //nolint:errcheck
		_ = resp.Status + resp.Header.Get("Content-Type")
		x.ApplyRequest()
		x.ApplyResponse()
		Release(x)

		if a, b := wire(&plain.Request), wire(&converted.Request); a != b {
			t.Fatalf("request changed on the wire:\n%q\n%q", a, b)
		}
		if a, b := wire(&plain.Response), wire(&converted.Response); a != b {
			t.Fatalf("response changed on the wire:\n%q\n%q", a, b)
		}
	})
}

// wire is m's HTTP/1.1 serialization, or its error.
func wire(m interface{ Write(*bufio.Writer) error }) string {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := m.Write(w); err != nil {
		return "error: " + err.Error()
	}
	w.Flush() //nolint:errcheck
	return buf.String()
}
