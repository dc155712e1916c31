package adapter

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// A streamed upload larger than the server's buffers reaches the origin
// whole whether the plugin leaves the body alone, reads part of it or
// reads all of it; untouched, the stream is not even bound.
func TestStreamedRequestBodyReachesOriginWhole(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	cases := []struct {
		desc string
		read int // bytes the plugin reads; -1 for all
	}{
		{"untouched", 0},
		{"first bytes read", 1000},
		{"fully read", -1},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			to, got := recorder(t)
			var pluginSaw []byte
			var streamed bool
			addr := serve(t, true, forward(to, func(r *http.Request) {
				streamed = r.ContentLength == int64(len(body))
				switch tc.read {
				case 0:
				case -1:
					pluginSaw, _ = io.ReadAll(r.Body)
				default:
					pluginSaw = make([]byte, tc.read)
					io.ReadFull(r.Body, pluginSaw) //nolint:errcheck
				}
			}))
			raw := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			res, rbody, _ := send(t, addr, raw)
			g := receive(t, got, res, rbody)
			if !streamed {
				t.Error("plugin saw the wrong ContentLength")
			}
			if g.Body != string(body) {
				t.Errorf("origin got %d bytes, want %d", len(g.Body), len(body))
			}
			if tc.read != 0 && !bytes.Equal(pluginSaw, body[:len(pluginSaw)]) {
				t.Error("plugin read the wrong bytes")
			}
		})
	}
}

// Converting a request whose body the plugin ignores reads nothing.
func TestUnreadBodyIsNotRead(t *testing.T) {
	got := make(chan bool, 1)
	addr := serve(t, true, func(ctx *fasthttp.RequestCtx) {
		x := Acquire(ctx)
		defer Release(x)
		r := x.Request()
		r.Header.Set("X-Seen", "1")
		x.ApplyRequest()
		got <- ctx.Request.IsBodyStream() && !x.reqBody.read && !x.reqBody.loaded
		b, _ := io.ReadAll(ctx.RequestBodyStream())
		ctx.SetBody(b)
	})
	res, body, _ := send(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
	expect(t, "stream untouched", receive(t, got, res, body), true)
	expect(t, "body", body, "abc")
}

// A replacement body that wraps a streamed upload larger than the server's
// buffers reads the rest of it from the connection: the origin gets the
// prefix and then every byte the client sent.
func TestStreamedRequestBodyWrappedByPluginReachesOriginWhole(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	to, got := recorder(t)
	addr := serve(t, true, forward(to, func(r *http.Request) {
		r.Body = io.NopCloser(io.MultiReader(strings.NewReader("P:"), r.Body))
	}))
	raw := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	res, rbody, _ := send(t, addr, raw)
	g := receive(t, got, res, rbody)
	if want := "P:" + string(body); g.Body != want {
		t.Errorf("origin got %d bytes (prefix %q), want %d", len(g.Body), g.Body[:min(len(g.Body), 8)], len(want))
	}
}

// A long replacement that wraps the streamed body passes the stream's
// bytes on without keeping them: the adapter holds at most the first
// replaceInline bytes of it, whatever the size of the upload.
func TestLongReplacementOfAStreamKeepsNoCopy(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 128<<10) // 2 MiB
	to, got := recorder(t)
	c := &fasthttp.HostClient{Addr: to}
	kept := make(chan int, 1)
	addr := serve(t, true, func(ctx *fasthttp.RequestCtx) {
		x := Acquire(ctx)
		defer Release(x)
		r := x.Request()
		r.Body = io.NopCloser(io.TeeReader(r.Body, io.Discard))
		if err := x.ApplyRequest(); err != nil {
			ctx.Error(err.Error(), http.StatusBadGateway)
			return
		}
		if err := c.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error(err.Error(), http.StatusBadGateway)
		}
		n := 0
		if x.reqBody.rec != nil {
			n = x.reqBody.rec.Len()
		}
		kept <- n + len(x.replay.head)
	})
	raw := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	res, rbody, _ := send(t, addr, raw)
	g := receive(t, got, res, rbody)
	if g.Body != string(body) {
		t.Errorf("origin got %d bytes, want %d", len(g.Body), len(body))
	}
	if n := receive(t, kept, res, rbody); n > replaceInline+1 {
		t.Errorf("the adapter kept %d bytes of a %d-byte upload, want at most %d", n, len(body), replaceInline+1)
	}
}

// A second ApplyRequest after a replacement was applied, with a new
// replacement that wraps the first, sends the new one whole, for a short
// replacement (held whole) and a long one (streaming by then): after an
// ApplyRequest, r.Body reads what fasthttp will send.
func TestSecondReplacementWrapsTheFirst(t *testing.T) {
	for _, size := range []int{1 << 10, 256 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
			to, got := recorder(t)
			c := &fasthttp.HostClient{Addr: to}
			addr := serve(t, true, func(ctx *fasthttp.RequestCtx) {
				x := Acquire(ctx)
				defer Release(x)
				r := x.Request()
				r.Body = io.NopCloser(io.MultiReader(strings.NewReader("A:"), r.Body))
				if err := x.ApplyRequest(); err != nil {
					t.Error(err)
				}
				r.Body = io.NopCloser(io.MultiReader(strings.NewReader("B:"), r.Body))
				if err := x.ApplyRequest(); err != nil {
					t.Error(err)
				}
				if err := c.Do(&ctx.Request, &ctx.Response); err != nil {
					ctx.Error(err.Error(), http.StatusBadGateway)
				}
			})
			raw := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			res, rbody, _ := send(t, addr, raw)
			g := receive(t, got, res, rbody)
			if want := "B:A:" + string(body); g.Body != want {
				t.Errorf("origin got %d bytes starting %q, want %d starting %q", len(g.Body), g.Body[:min(len(g.Body), 6)], len(want), want[:6])
			}
		})
	}
}
