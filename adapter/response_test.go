package adapter

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// seenResponse is what a plugin saw of a response.
type seenResponse struct {
	Status, Proto          string
	StatusCode             int
	ProtoMajor, ProtoMinor int
	Header, Trailer        http.Header
	ContentLength          int64
	TransferEncoding       []string
	Close                  bool
	Body                   string
}

func seeResponse(r *http.Response) seenResponse {
	body, _ := io.ReadAll(r.Body)
	return seenResponse{
		Status: r.Status, Proto: r.Proto, StatusCode: r.StatusCode,
		ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
		Header: r.Header.Clone(), Trailer: r.Trailer.Clone(),
		ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding,
		Close: r.Close, Body: string(body),
	}
}

// typicalResponse is the 6-header answer to browserRequest.
const typicalResponse = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: application/javascript\r\n" +
	"Content-Length: 21\r\n" +
	"Cache-Control: public, max-age=31536000\r\n" +
	"Etag: \"5f2b-1a\"\r\n" +
	"Last-Modified: Tue, 24 Nov 2026 10:00:00 GMT\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"\r\n" +
	"console.log('hello');"

var responseCases = []struct{ name, raw string }{
	{"typical", typicalResponse},
	{"custom reason", "HTTP/1.1 299 Fine Thanks\r\nContent-Length: 2\r\n\r\nok"},
	{"not found", "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope"},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"},
	{"several Set-Cookie", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; HttpOnly\r\nContent-Length: 0\r\n\r\n"},
	{"repeated headers", "HTTP/1.1 200 OK\r\nVary: Accept\r\nX-A: 1\r\nVary: Origin\r\nX-A: 2\r\nContent-Length: 0\r\n\r\n"},
	{"no content", "HTTP/1.1 204 No Content\r\nX-Empty:\r\n\r\n"},
	{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"},
}

// fetch is a handler that fills ctx.Response from the origin at addr with
// fasthttp's client, as Spillway forwards, then runs plugin.
func fetch(addr string, plugin func(ctx *fasthttp.RequestCtx)) fasthttp.RequestHandler {
	return fetchWith(&fasthttp.HostClient{Addr: addr}, plugin)
}

// fetchWith is fetch through c, to stream the backend's body say.
func fetchWith(c *fasthttp.HostClient, plugin func(ctx *fasthttp.RequestCtx)) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if err := c.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error(err.Error(), http.StatusBadGateway)
			return
		}
		plugin(ctx)
	}
}

func TestResponseMatchesNetHTTP(t *testing.T) {
	for _, tc := range responseCases {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan seenResponse, 1)
			addr := serve(t, false, fetch(origin(t, tc.raw), func(ctx *fasthttp.RequestCtx) {
				x := Acquire(ctx)
				defer Release(x)
				got <- seeResponse(x.Response())
			}))
			res, body, _ := send(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			g := receive(t, got, res, body)
			want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tc.raw)), nil)
			if err != nil {
				t.Fatal(err)
			}
			w := seeResponse(want)
			compareFields(t, g, w)
		})
	}
}
