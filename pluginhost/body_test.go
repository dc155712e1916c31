package pluginhost_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

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
