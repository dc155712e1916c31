package bench

import (
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// NewBaseline returns the proxy Spillway is compared with: net/http's
// httputil.ReverseProxy sending requests round-robin to backends through
// tr, with the usual X-Forwarded-* headers. When h is not nil its two
// phases run as plain net/http code, the way Terraster runs plugins: on
// the outgoing *http.Request and on the backend's *http.Response.
// Terraster also wraps each request in a context.WithTimeout; that is left
// out, which only flatters the baseline.
func NewBaseline(backends []*url.URL, tr http.RoundTripper, h plugin.Handler) *httputil.ReverseProxy {
	var next atomic.Uint32
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backends[(next.Add(1)-1)%uint32(len(backends))])
			pr.SetXForwarded()
			if h != nil {
				release(h.ProcessRequest(pr.Out.Context(), pr.Out))
			}
		},
		Transport:  tr,
		BufferPool: copyBuffers,
		ErrorLog:   log.New(io.Discard, "", 0),
	}
	if h != nil {
		rp.ModifyResponse = func(r *http.Response) error {
			release(h.ProcessResponse(r.Request.Context(), r))
			return nil
		}
	}
	return rp
}

// release returns a pooled plugin result, as Terraster's manager does.
func release(r *plugin.Result) {
	if r != nil && r != plugin.ResultContinue && r != plugin.ResultModify {
		r.Release()
	}
}

// copyBufferSize matches ReverseProxy's own default buffer.
const copyBufferSize = 32 << 10

// bufferPool is ReverseProxy's BufferPool over fixed-size arrays. Pooling
// array pointers, not slices, keeps Put from allocating.
type bufferPool struct{ p sync.Pool }

var copyBuffers = &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}

func (bp *bufferPool) Get() []byte { return bp.p.Get().(*[copyBufferSize]byte)[:] }

func (bp *bufferPool) Put(b []byte) {
	if len(b) == copyBufferSize {
		bp.p.Put((*[copyBufferSize]byte)(b))
	}
}
