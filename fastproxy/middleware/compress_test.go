package middleware

import (
	"compress/gzip"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"
	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// decoder opens a decoding reader over a body in the named coding.
func decoder(t *testing.T, enc string, r io.Reader) io.Reader {
	t.Helper()
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return zr
	case "br":
		return brotli.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	return r
}

func compressionRig(t *testing.T) *rig {
	return newRig(t, mustNew(t, []configs.Middleware{{Compression: true}}, nil), false)
}

func TestCompressionRoundTrips(t *testing.T) {
	r := compressionRig(t)
	for _, tc := range []struct {
		desc, path, accept, want string // want: Content-Encoding, "" for none
	}{
		{"gzip", "/", "gzip", "gzip"},
		{"brotli", "/", "br", "br"},
		{"zstd when asked", "/", "zstd", "zstd"},
		{"browser list prefers br", "/", "gzip, deflate, br, zstd", "br"},
		{"q-values choose gzip", "/", "br;q=0.5, gzip;q=0.9", "gzip"},
		{"q-values choose zstd", "/", "br;q=0.1, gzip;q=0.2, zstd", "zstd"},
		{"q=0 refuses br", "/", "br;q=0, gzip", "gzip"},
		{"star means br", "/", "*", "br"},
		{"star does not mean zstd", "/", "*;q=0, zstd;q=0.5", "zstd"},
		{"identity only", "/", "identity", ""},
		{"nothing accepted", "/", "", ""},
		{"small body skipped", "/small", "gzip", ""},
		{"image skipped", "/png", "gzip", ""},
		{"no-transform skipped", "/no-transform", "gzip", ""},
		{"stream with a length", "/sized-stream", "gzip", "gzip"},
		{"small stream skipped", "/small-stream", "gzip", ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var hdrs []string
			if tc.accept != "" {
				hdrs = append(hdrs, "Accept-Encoding: "+tc.accept)
			}
			resp, body := r.do(t, "GET", tc.path, hdrs...)
			if got := resp.Header.Get("Content-Encoding"); got != tc.want {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.want)
			}
			if tc.want == "" {
				return
			}
			plain, err := io.ReadAll(decoder(t, tc.want, strings.NewReader(string(body))))
			if err != nil {
				t.Fatal(err)
			}
			if string(plain) != bigText {
				t.Errorf("decoded %d bytes, want the %d-byte original", len(plain), len(bigText))
			}
			if len(body) >= len(bigText) {
				t.Errorf("encoded body %d bytes is no smaller than %d", len(body), len(bigText))
			}
			if !slices.Contains(varyTokens(resp.Header), "accept-encoding") {
				t.Errorf("Vary %q lacks Accept-Encoding", resp.Header.Values("Vary"))
			}
		})
	}
}

func TestCompressionKeepsEncodedBody(t *testing.T) {
	resp, body := compressionRig(t).do(t, "GET", "/encoded", "Accept-Encoding: br, gzip")
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding %q, want the backend's gzip", got)
	}
	plain, err := io.ReadAll(decoder(t, "gzip", strings.NewReader(string(body))))
	if err != nil || string(plain) != bigText {
		t.Errorf("body was re-encoded or damaged: %v", err)
	}
}

func TestCompressionVaryWithoutAcceptEncoding(t *testing.T) {
	resp, body := compressionRig(t).do(t, "GET", "/")
	if string(body) != bigText {
		t.Fatal("body changed")
	}
	if !slices.Contains(varyTokens(resp.Header), "accept-encoding") {
		t.Errorf("an uncompressed but compressible answer lacks Vary: Accept-Encoding")
	}
}

func TestCompressionRestoresAcceptEncoding(t *testing.T) {
	// The chain narrows Accept-Encoding for fasthttp's handler; afterwards
	// the request must say what the client sent (logs and plugins read it).
	chain := mustNew(t, []configs.Middleware{{Compression: true}}, nil)
	var ctx fasthttp.RequestCtx
	const sent = "br;q=0.5, gzip"
	ctx.Request.Header.Set("Accept-Encoding", sent)
	ctx.Response.Header.SetContentType("text/html")
	ctx.Response.SetBodyString(bigText)
	chain.Response(&ctx)
	if got := string(ctx.Response.Header.ContentEncoding()); got != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip", got)
	}
	if got := string(ctx.Request.Header.Peek("Accept-Encoding")); got != sent {
		t.Errorf("Accept-Encoding after Response %q, want %q", got, sent)
	}
}

// TestCompressionStreamsChunkedBody: a chunked body is compressed as it
// streams; the backend sends its second part only after the client has
// decoded the first, within a deadline far shorter than the backend waits.
func TestCompressionStreamsChunkedBody(t *testing.T) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			r := compressionRig(t)
			readStreamed(t, r.client, r.url+"/stream", enc, r.gate)
		})
	}
}

// TestCompressionFollowsMediaTypeCase: media types are case-insensitive,
// so an upper-case compressible type is compressed like a lower-case one,
// and its Content-Type reaches the client as the backend wrote it. Over
// every type, Vary names Accept-Encoding exactly when the answer is
// compressed (the client accepts gzip), so no answer claims a variant it
// is not.
func TestCompressionFollowsMediaTypeCase(t *testing.T) {
	r := compressionRig(t)
	for _, tc := range []struct {
		ct       string
		compress bool
	}{
		{"TEXT/CSS", true},
		{"text/css", true},
		{"Application/JSON; charset=UTF-8", true},
		{"Image/SVG+XML", true},
		{"APPLICATION/PROBLEM+JSON", true},
		{"model/vnd.collada+xml", false}, // not a type fasthttp's codecs take
		{"IMAGE/PNG", false},
	} {
		for _, stream := range []string{"", "&stream=1"} {
			t.Run(tc.ct+stream, func(t *testing.T) {
				resp, body := r.do(t, "GET", "/type?ct="+url.QueryEscape(tc.ct)+stream, "Accept-Encoding: gzip")
				got, vary := resp.Header.Get("Content-Encoding"), slices.Contains(varyTokens(resp.Header), "accept-encoding")
				if (got == "gzip") != tc.compress || vary != tc.compress {
					t.Fatalf("Content-Encoding %q, Vary has Accept-Encoding %v; want compressed and Vary both %v", got, vary, tc.compress)
				}
				if ct := resp.Header.Get("Content-Type"); ct != tc.ct {
					t.Errorf("Content-Type %q, want the backend's %q", ct, tc.ct)
				}
				plain, err := io.ReadAll(decoder(t, got, strings.NewReader(string(body))))
				if err != nil || string(plain) != bigText {
					t.Errorf("decoded %d bytes, %v", len(plain), err)
				}
			})
		}
	}
}

func TestCompressionWeakensStrongETag(t *testing.T) {
	for _, tc := range []struct{ accept, etag, want string }{
		{"gzip", `"v1"`, `W/"v1"`},
		{"gzip", `W/"v1"`, `W/"v1"`},
		{"identity", `"v1"`, `"v1"`},
	} {
		chain := mustNew(t, []configs.Middleware{{Compression: true}}, nil)
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.Set("Accept-Encoding", tc.accept)
		ctx.Response.Header.SetContentType("text/html")
		ctx.Response.Header.Set("ETag", tc.etag)
		ctx.Response.SetBodyString(bigText)
		chain.Response(&ctx)
		if got := string(ctx.Response.Header.Peek("ETag")); got != tc.want {
			t.Errorf("Accept-Encoding %s, ETag %s: got %s, want %s", tc.accept, tc.etag, got, tc.want)
		}
	}
}

func TestCompressionSkipsHEAD(t *testing.T) {
	resp, _ := compressionRig(t).do(t, "HEAD", "/", "Accept-Encoding: gzip")
	if got := resp.Header.Get("Content-Encoding"); got != "" {
		t.Errorf("HEAD answer has Content-Encoding %q", got)
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		ae   string
		want encoding
	}{
		{"", encNone},
		{"gzip", encGzip},
		{"x-gzip", encGzip},
		{"GZIP", encGzip},
		{"br", encBrotli},
		{"gzip, br", encBrotli},
		{"gzip;q=1.0, br;q=0.999", encGzip},
		{"gzip; q=0.5 , br ; q=0.4", encGzip},
		{"br;q=0", encNone},
		{"br;q=0.000", encNone},
		{"br;q=2", encNone},
		{"br;q=abc, gzip;q=0.1", encGzip},
		{"*", encBrotli},
		{"*;q=0.5, br;q=0.1", encGzip},
		{"zstd", encZstd},
		{"zstd, gzip", encGzip},
		{"zstd;q=1, gzip;q=0.9", encZstd},
		{"deflate, identity", encNone},
	} {
		if got := negotiate([]byte(tc.ae)); got != tc.want {
			t.Errorf("negotiate(%q) = %v, want %v", tc.ae, got, tc.want)
		}
	}
}

func TestCompressibleTypes(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/html; charset=utf-8": true, "TEXT/CSS": true, "application/json": true,
		"application/problem+json": true, "application/atom+xml": true, "image/svg+xml": true,
		"application/javascript": true, "image/png": false, "application/octet-stream": false,
		"application/zip": false, "font/woff2": false, "video/mp4": false, "": false,
		"model/vnd.collada+xml": false, "Image/SVG+XML": true,
	} {
		if got := compressible([]byte(ct)); got != want {
			t.Errorf("compressible(%q) = %v, want %v", ct, got, want)
		}
	}
}

// FuzzNegotiate checks that any Accept-Encoding value parses without
// panicking and that the chosen coding is one the value names, or that "*"
// stands for it.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"gzip", "br;q=0.5, gzip;q=0.9", "*;q=0", "zstd;q=1.000", ";;,,q=", "gzip;q=0.0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ae string) {
		enc := negotiate([]byte(ae))
		if enc == encNone {
			return
		}
		lower := strings.ToLower(ae)
		name := encNames[enc]
		if !strings.Contains(lower, name) && !(enc != encZstd && strings.Contains(lower, "*")) {
			t.Errorf("negotiate(%q) = %s, which it does not name", ae, name)
		}
	})
}
