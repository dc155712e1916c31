package bench

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var baselineProxy = proxyUnderTest{
	name: "baseline",
	start: func(tb testing.TB, s setup, origins []string) target {
		return startBaseline(tb, s, origins, baselineHooks(tb, s.plugin))
	},
	covers: func(s setup) bool { return s.baseline },
}

// hooks are a plugin's two phases as plain net/http code, which is how
// Terraster runs its plugins: on the *http.Request before it is sent and on
// the *http.Response before it is copied back. Nil hooks do nothing.
type hooks struct {
	request  func(*http.Request)
	response func(*http.Response)
}

// startBaseline serves s with net/http and httputil.ReverseProxy in front
// of origins until tb ends, and returns where to send requests.
//
// It is tuned as one would tune it for production so the comparison is
// fair: idle connections per backend for every client connection, pooled
// copy buffers, no transparent gzip, and no per-request logging.
func startBaseline(tb testing.TB, s setup, origins []string, h hooks) target {
	tb.Helper()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4 * conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	urls := make([]*url.URL, len(origins))
	for i, o := range origins {
		urls[i] = &url.URL{Scheme: "http", Host: o}
	}
	var handler http.Handler = newReverseProxy(urls, tr, h)
	t := target{host: "bench.test"}
	if s.routes {
		// Every service and location gets its own proxy, as a net/http
		// program routing by host and path prefix would have.
		mux := http.NewServeMux()
		for i := range routeCount[0] {
			for j := range routeCount[1] {
				mux.Handle(routeHost(i)+routePath(j)+"/", newReverseProxy(urls, tr, h))
			}
		}
		handler = mux
		t.host, t.prefix = routeTarget()
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("baseline listen: %v", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	tb.Cleanup(func() {
		_ = srv.Close()
		tr.CloseIdleConnections()
	})
	t.addr = ln.Addr().String()
	return t
}

// newReverseProxy returns a ReverseProxy sending requests round-robin to
// urls through tr, with the usual X-Forwarded-* headers, running h.
func newReverseProxy(urls []*url.URL, tr http.RoundTripper, h hooks) *httputil.ReverseProxy {
	var next atomic.Uint32
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(urls[(next.Add(1)-1)%uint32(len(urls))])
			pr.SetXForwarded()
			if h.request != nil {
				h.request(pr.Out)
			}
		},
		Transport:  tr,
		BufferPool: copyBuffers,
		ErrorLog:   log.New(io.Discard, "", 0),
	}
	if h.response != nil {
		rp.ModifyResponse = func(r *http.Response) error {
			h.response(r)
			return nil
		}
	}
	return rp
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
