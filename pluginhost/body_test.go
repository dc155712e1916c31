package pluginhost_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// wrapper replaces the request's and the response's Body with readers
// made around the original ones.
type wrapper struct {
	req, resp func(io.ReadCloser) io.ReadCloser
}

func (wrapper) Name() string   { return "wrapper" }
func (wrapper) Priority() int  { return 0 }
func (wrapper) Cleanup() error { return nil }
func (w wrapper) ProcessRequest(_ context.Context, req *http.Request) *plugin.Result {
	req.Body = w.req(req.Body)
	return plugin.ResultModify
}
func (w wrapper) ProcessResponse(_ context.Context, resp *http.Response) *plugin.Result {
	resp.Body = w.resp(resp.Body)
	return plugin.ResultModify
}

// startEchoProxy runs an origin that answers "echo:" and the request body,
// and a real proxy in front of it running h: both bodies then stream
// through the proxy, the request's from the client connection and the
// response's from the backend connection.
func startEchoProxy(t *testing.T, h *pluginhost.Host) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetBody(append([]byte("echo:"), ctx.PostBody()...))
	}}
	go origin.Serve(ln)
	t.Cleanup(func() { origin.Shutdown() })
	cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{{
		Name:      "echo",
		Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: "http://" + ln.Addr().String()}}}},
	}}}
	return startProxy(t, cfg, h)
}

// A plugin's replacement body that wraps the original reads the original's
// bytes in both phases, through the proxy's streamed bodies: the origin
// gets what the request wrapper made of the client's body, and the client
// what the response wrapper made of the origin's.
func TestWrappedBodiesPassThroughTheProxy(t *testing.T) {
	t.Parallel()
	upload := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB, past the servers' buffers
	prefix := func(p string) func(io.ReadCloser) io.ReadCloser {
		return func(b io.ReadCloser) io.ReadCloser { return io.NopCloser(io.MultiReader(strings.NewReader(p), b)) }
	}
	capped := func(b io.ReadCloser) io.ReadCloser { return http.MaxBytesReader(nil, b, 1<<20) }
	var reqTee, respTee logBuffer
	tee := func(to *logBuffer) func(io.ReadCloser) io.ReadCloser {
		return func(b io.ReadCloser) io.ReadCloser { return io.NopCloser(io.TeeReader(b, to)) }
	}
	cases := []struct {
		desc     string
		w        wrapper
		want     string
		teedReq  string
		teedResp string
	}{
		{"MultiReader prefix", wrapper{prefix("P:"), prefix("R:")}, "R:echo:P:" + upload, "", ""},
		{"MaxBytesReader", wrapper{capped, capped}, "echo:" + upload, "", ""},
		{"TeeReader", wrapper{tee(&reqTee), tee(&respTee)}, "echo:" + upload, upload, "echo:" + upload},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h, err := pluginhost.New([]plugin.Handler{tc.w}, nil, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			url := startEchoProxy(t, h)
			resp, err := http.Post(url+"/", "text/plain", strings.NewReader(upload))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || string(body) != tc.want {
				t.Fatalf("got %d, %d bytes starting %q (err %v); want 200, %d bytes starting %q",
					resp.StatusCode, len(body), body[:min(len(body), 12)], err, len(tc.want), tc.want[:12])
			}
			if got := reqTee.String(); got != tc.teedReq {
				t.Errorf("request tee copied %d bytes, want %d", len(got), len(tc.teedReq))
			}
			if got := respTee.String(); got != tc.teedResp {
				t.Errorf("response tee copied %d bytes, want %d", len(got), len(tc.teedResp))
			}
		})
	}
}

// changer changes the request or the response in place, in the phase
// whose function is set.
type changer struct {
	req  func(*http.Request)
	resp func(*http.Response)
}

func (changer) Name() string   { return "changer" }
func (changer) Priority() int  { return 0 }
func (changer) Cleanup() error { return nil }
func (c changer) ProcessRequest(_ context.Context, req *http.Request) *plugin.Result {
	if c.req != nil {
		c.req(req)
	}
	return plugin.ResultModify
}
func (c changer) ProcessResponse(_ context.Context, resp *http.Response) *plugin.Result {
	if c.resp != nil {
		c.resp(resp)
	}
	return plugin.ResultModify
}

// uploadSeen is what the streaming origin saw of an upload.
type uploadSeen struct {
	contentLength int64
	chunked       bool
	sum           [sha256.Size]byte
	n             int64
}

// A long replacement body streams to the backend instead of being held
// whole: the origin gets the first megabyte of a 4 MiB upload while the
// client still holds back the rest, and then the whole body, chunked when
// the plugin did not say how long it is and with its Content-Length when
// it did.
func TestLongReplacementBodiesStream(t *testing.T) {
	t.Parallel()
	const size, first = 4 << 20, 1 << 20
	upload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	cases := []struct {
		desc    string
		wrap    func(*http.Request)
		want    []byte
		chunked bool
	}{
		{"TeeReader, length not set", func(r *http.Request) {
			r.Body = io.NopCloser(io.TeeReader(r.Body, io.Discard))
		}, upload, true},
		{"MultiReader prefix, length set", func(r *http.Request) {
			r.Body = io.NopCloser(io.MultiReader(strings.NewReader("P:"), r.Body))
			r.ContentLength += 2
		}, append([]byte("P:"), upload...), false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{})
			seen := make(chan uploadSeen, 1)
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := sha256.New()
				got := uploadSeen{contentLength: r.ContentLength, chunked: slices.Contains(r.TransferEncoding, "chunked")}
				var err error
				got.n, err = io.CopyN(h, r.Body, first/2)
				if err == nil {
					close(started)
					var m int64
					m, err = io.Copy(h, r.Body)
					got.n += m
				}
				copy(got.sum[:], h.Sum(nil))
				seen <- got
				if err != nil {
					w.WriteHeader(http.StatusBadRequest)
				}
			}))
			t.Cleanup(origin.Close)
			h, err := pluginhost.New([]plugin.Handler{changer{req: tc.wrap}}, nil, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			url := startCountingProxy(t, h, strings.TrimPrefix(origin.URL, "http://"))
			conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", size)
			if _, err := conn.Write(upload[:first]); err != nil {
				t.Fatal(err)
			}
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("the origin got nothing of the body while the client held back the rest: the proxy holds it whole")
			}
			if _, err := conn.Write(upload[first:]); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := <-seen
			if resp.StatusCode != http.StatusOK || got.n != int64(len(tc.want)) || got.sum != sha256.Sum256(tc.want) {
				t.Fatalf("status %d; origin got %d bytes (sum match %v), want 200 and %d bytes",
					resp.StatusCode, got.n, got.sum == sha256.Sum256(tc.want), len(tc.want))
			}
			if wantCL := int64(len(tc.want)); got.chunked != tc.chunked || (!tc.chunked && got.contentLength != wantCL) {
				t.Errorf("origin saw chunked=%v Content-Length %d; want chunked=%v (length %d when not)", got.chunked, got.contentLength, tc.chunked, wantCL)
			}
		})
	}
}

// heldOrigin answers every request with a body of len(body) bytes, sending
// the first part of it at once and the rest only when release is closed.
func heldOrigin(t *testing.T, body []byte, part int, release <-chan struct{}) string {
	return rawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(body))
			c.Write(body[:part])
			<-release
			if _, err := c.Write(body[part:]); err != nil {
				return
			}
		}
	})
}

// A response-phase plugin that replaces a streamed answer, or reads part
// of it, does not make the proxy hold it whole: the client gets the first
// megabyte of a 4 MiB answer while the origin still holds back the rest,
// then all of it, chunked when the plugin did not say how long its body
// is and with its Content-Length otherwise. The same connection then
// serves a second request (the backend's stream and the plugin's objects
// were released only after the answer was sent).
func TestResponseReplacementsOfStreamsStream(t *testing.T) {
	t.Parallel()
	const size, part = 4 << 20, 1 << 20
	answer := bytes.Repeat([]byte("fedcba9876543210"), size/16)
	peek := func(b io.ReadCloser) io.ReadCloser {
		var p [4096]byte
		io.ReadFull(b, p[:]) // content sniffing; the body is left as it is
		return b
	}
	cases := []struct {
		desc    string
		resp    func(*http.Response)
		want    []byte
		chunked bool
	}{
		{"TeeReader, length not set", func(r *http.Response) {
			r.Body = io.NopCloser(io.TeeReader(r.Body, io.Discard))
		}, answer, true},
		{"MultiReader prefix, length set", func(r *http.Response) {
			r.Body = io.NopCloser(io.MultiReader(strings.NewReader("R:"), r.Body))
			r.ContentLength += 2
		}, append([]byte("R:"), answer...), false},
		{"part read, body kept", func(r *http.Response) { r.Body = peek(r.Body) }, answer, false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			origin := heldOrigin(t, answer, part, release)
			h, err := pluginhost.New([]plugin.Handler{changer{resp: tc.resp}}, nil, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			url := startCountingProxy(t, h, origin)
			conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(conn)
			for i := range 2 {
				fmt.Fprintf(conn, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, part/2)
				early := make(chan error, 1)
				go func() { _, err := io.ReadFull(resp.Body, got); early <- err }()
				select {
				case err := <-early:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the client got nothing while the origin held back the rest: the proxy holds the answer whole")
				}
				if i == 0 {
					close(release)
				}
				rest, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				got = append(got, rest...)
				if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, tc.want) {
					t.Fatalf("request %d: %d, %d bytes (err %v), equal %v; want 200 and %d bytes",
						i, resp.StatusCode, len(got), err, bytes.Equal(got, tc.want), len(tc.want))
				}
				chunked := slices.Contains(resp.TransferEncoding, "chunked")
				if chunked != tc.chunked || (!chunked && resp.ContentLength != int64(len(tc.want))) {
					t.Errorf("request %d: chunked=%v Content-Length %d; want chunked=%v (length %d when not)",
						i, chunked, resp.ContentLength, tc.chunked, len(tc.want))
				}
			}
		})
	}
}

// A streamed answer whose body a plugin replaced is still compressed by
// the compression middleware, which wraps whatever stream the response
// holds: the client gets the plugin's body whole, gzip-encoded, and the
// backend stream under it is released (the next request is served).
func TestStreamedReplacementIsCompressed(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	h, err := pluginhost.New([]plugin.Handler{changer{resp: func(r *http.Response) {
		r.Body = io.NopCloser(io.MultiReader(strings.NewReader("R:"), r.Body))
	}}}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	cfg := &configs.Config{Host: "127.0.0.1", Middleware: []configs.Middleware{{Compression: true}}, Services: []configs.Service{{
		Name:      "compressed",
		Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: "http://" + brokenOrigin(t, size, size)}}}},
	}}}
	url := startProxy(t, cfg, h)
	client := &http.Client{Timeout: 10 * time.Second} // asks for gzip and decodes it
	want := "R:" + strings.Repeat("y", size)
	for i := range 2 {
		resp, err := client.Get(url + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != want || !resp.Uncompressed {
			t.Fatalf("request %d: %d, %d bytes (err %v), equal %v, was gzip %v; want 200, %d bytes, gzip",
				i, resp.StatusCode, len(body), err, string(body) == want, resp.Uncompressed, len(want))
		}
	}
}

// A streamed answer whose body a plugin replaced keeps its backend's
// max_connections slot until the client has it all, as without plugins:
// the backend stream is released only when the replacement is sent.
func TestReplacedStreamHoldsItsSlotUntilSent(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			io.WriteString(w, "fast")
			return
		}
		w.Write(bytes.Repeat([]byte("a"), 100<<10))
		w.(http.Flusher).Flush() // chunked: the proxy streams it
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
		}
		io.WriteString(w, "end")
	}))
	t.Cleanup(origin.Close)
	h, err := pluginhost.New([]plugin.Handler{changer{resp: func(r *http.Response) {
		r.Body = io.NopCloser(io.TeeReader(r.Body, io.Discard))
	}}}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	zero := 0
	cfg := &configs.Config{Host: "127.0.0.1", Retry: configs.Retry{Attempts: &zero}, Services: []configs.Service{{
		Name: "slots",
		Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{{
			URL: origin.URL, MaxConnections: 1,
		}}}},
	}}}
	url := startProxy(t, cfg, h)
	client := &http.Client{Timeout: 10 * time.Second}
	fast := func() (int, string) {
		resp, err := client.Get(url + "/fast")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	resp, err := client.Get(url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 100<<10)); err != nil {
		t.Fatalf("first part of the stream: %v", err)
	}
	if code, body := fast(); code != http.StatusServiceUnavailable {
		t.Errorf("while the only slot streams a replaced answer: %d %q, want 503", code, body)
	}
	close(gate)
	if rest, err := io.ReadAll(resp.Body); err != nil || string(rest) != "end" {
		t.Fatalf("rest of the stream %q, %v", rest, err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body := fast()
		if code == http.StatusOK && body == "fast" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stream was sent: %d %q, want 200 fast", code, body)
		}
	}
}
