package adapter

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// seen is what a plugin saw of a request, copied out of the handler.
type seen struct {
	Method, Proto, Host, RemoteAddr, RequestURI string
	ProtoMajor, ProtoMinor                      int
	URL                                         url.URL
	Header, Trailer                             http.Header
	ContentLength                               int64
	TransferEncoding                            []string
	Close                                       bool
	Body                                        string
}

func seeRequest(r *http.Request) seen {
	body, _ := io.ReadAll(r.Body)
	return seen{
		Method: r.Method, Proto: r.Proto, Host: r.Host, RemoteAddr: r.RemoteAddr,
		RequestURI: r.RequestURI, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
		URL: *r.URL, Header: r.Header.Clone(), Trailer: r.Trailer.Clone(),
		ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding,
		Close: r.Close, Body: string(body),
	}
}

// browserRequest is a typical browser GET: 12 header lines, no body.
const browserRequest = "GET /static/app.js?v=3 HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Referer: https://shop.example.com/\r\n" +
	"Cookie: session=6f1c2a; theme=dark\r\n" +
	"Sec-Fetch-Dest: script\r\n" +
	"Sec-Fetch-Mode: no-cors\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Connection: keep-alive\r\n" +
	"Priority: u=1\r\n" +
	"\r\n"

// requestCases are odd but valid requests; the fuzz corpus starts from them.
var requestCases = []struct{ name, raw string }{
	{"browser GET", browserRequest},
	{"repeated headers interleaved", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nAccept: text/html\r\nX-Forwarded-For: 2.2.2.2\r\nAccept: */*\r\nX-Forwarded-For: 3.3.3.3\r\n\r\n"},
	{"repeated interned and uncommon keys", "GET / HTTP/1.1\r\nHost: a\r\nX-Trace: 1\r\nAccept: a\r\nX-Trace: 2\r\nAccept: b\r\nX-Other: z\r\n\r\n"},
	{"empty User-Agent", "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent:\r\nAccept: */*\r\n\r\n"},
	{"empty and padded values", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Pad:   v  \r\nX-Tab:\tt\t\r\n\r\n"},
	{"lower-case names", "GET / HTTP/1.1\r\nhost: a\r\nx-custom-header: v\r\ncontent-type: text/plain\r\n\r\n"},
	{"encoded path and query", "GET /a%20b/c%2Fd/%41?q=1%202&r=%zz HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"path needing RawPath", "GET /a!b/(c)*'d HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"double slashes", "GET //x//y/ HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"empty query forced", "GET /p? HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"question marks in query", "GET /p??a=?b HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"long URL", "GET /" + strings.Repeat("segment/", 500) + "?" + strings.Repeat("k=v&", 300) + " HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + manyHeaders(80) + "\r\n"},
	{"absolute form", "GET http://origin.example:8080/x?y=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n"},
	{"asterisk OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"POST with length", "POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\na=1&b=2&c=3"},
	{"POST chunked", "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
	{"HTTP/1.0", "GET /old HTTP/1.0\r\nHost: a\r\n\r\n"},
	{"HTTP/1.0 keep-alive", "GET /old HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"},
	{"connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"},
	{"connection Close capitalized", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"},
	{"pragma no-cache", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n"},
	{"custom method", "PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"host with port", "GET / HTTP/1.1\r\nHost: a.example:8443\r\n\r\n"},
	{"several Cookie lines", "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nAccept: */*\r\nCookie: b=2; c=3\r\n\r\n"},
	{"UTF-8 value", "GET / HTTP/1.1\r\nHost: a\r\nX-Name: Zo\xc3\xab\r\n\r\n"},
}

func manyHeaders(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "X-H%d: value-%d\r\n", i%30, i)
	}
	return b.String()
}

// netHTTPRequest is what net/http's server hands a handler for raw.
func netHTTPRequest(t *testing.T, raw, remote string) seen {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("net/http rejects the case: %v", err)
	}
	delete(r.Header, "Host") // as net/http's server does
	r.RemoteAddr = remote
	return seeRequest(r)
}

func TestRequestMatchesNetHTTP(t *testing.T) {
	for _, stream := range []bool{false, true} {
		got := make(chan seen, 1)
		addr := serve(t, stream, func(ctx *fasthttp.RequestCtx) {
			x := Acquire(ctx)
			defer Release(x)
			got <- seeRequest(x.Request())
		})
		for _, tc := range requestCases {
			t.Run(fmt.Sprintf("%s/stream=%v", tc.name, stream), func(t *testing.T) {
				res, body, remote := send(t, addr, tc.raw)
				g := receive(t, got, res, body)
				compareFields(t, g, netHTTPRequest(t, tc.raw, remote))
			})
		}
	}
}

// compareFields reports every field of got that differs from want.
func compareFields(t *testing.T, got, want any) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %#v\nwant %#v", gv.Type().Field(i).Name, g, w)
		}
	}
}
