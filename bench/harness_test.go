package bench

import (
	"bytes"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// conns is how many keep-alive client connections each benchmark keeps
// busy: enough that the proxy, not the client's round trips, is the limit.
const conns = 64

// startOrigins serves Origin on n loopback listeners until tb ends and
// returns their addresses.
func startOrigins(tb testing.TB, n int) []string {
	tb.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("origin listen: %v", err)
		}
		srv := &fasthttp.Server{Handler: Origin, NoDefaultServerHeader: true}
		go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
		tb.Cleanup(func() { _ = srv.Shutdown() })
		addrs[i] = ln.Addr().String()
	}
	return addrs
}

// newClient returns a keep-alive client for a proxy at addr with room for
// conns connections. Its timeouts only stop a broken proxy from hanging a run.
func newClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                addr,
		MaxConns:            conns,
		ReadTimeout:         10 * time.Second,
		WriteTimeout:        10 * time.Second,
		MaxIdleConnDuration: time.Minute,
		MaxResponseBodySize: 2 * LargeSize,
	}
}

// prepare fills req for c through t. The body is copied once; fasthttp's
// client leaves req untouched, so it is resent as is.
func (c benchCase) prepare(req *fasthttp.Request, t target) {
	req.SetRequestURI("http://" + t.host + t.prefix + c.path)
	req.Header.SetMethod(c.method)
	if c.body != nil {
		req.SetBody(c.body)
	}
}

// check reports what is wrong with resp as the answer to c, or "".
// The benchmarks check the status and length; the harness test also
// compares the bytes.
func (c benchCase) check(resp *fasthttp.Response, full bool) string {
	switch {
	case resp.StatusCode() != fasthttp.StatusOK:
		return "status " + strconv.Itoa(resp.StatusCode()) + ": " + string(resp.Body())
	case len(resp.Body()) != len(c.want):
		return "body of " + strconv.Itoa(len(resp.Body())) + " bytes, want " + strconv.Itoa(len(c.want))
	case full && !bytes.Equal(resp.Body(), c.want):
		return "body differs from the origin's"
	}
	return ""
}

// runLoad drives c through t from conns concurrent keep-alive connections
// for b.N requests and reports req/s next to the usual per-op figures.
// Allocations count the whole process: client, proxy and origin (the
// fasthttp client and Origin allocate nothing once warm).
func runLoad(b *testing.B, t target, c benchCase) {
	client := newClient(t.addr)
	defer client.CloseIdleConnections()
	b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	warmUp(b, client, t, c)
	var failed atomic.Bool
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		c.prepare(req, t)
		for pb.Next() {
			err := client.Do(req, resp)
			msg := ""
			if err != nil {
				msg = err.Error()
			} else {
				msg = c.check(resp, false)
			}
			// One report is enough; thousands would bury it.
			if msg != "" && failed.CompareAndSwap(false, true) {
				b.Errorf("%s %s via %s: %s", c.method, c.path, t.addr, msg)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// warmUp opens all conns client connections, and the proxy's backend
// connections behind them, before the timer starts: per-op figures then
// describe the steady state of a busy proxy, not connection set-up
// amortized over however few requests a short -benchtime allows.
func warmUp(b *testing.B, client *fasthttp.HostClient, t target, c benchCase) {
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			req := fasthttp.AcquireRequest()
			defer fasthttp.ReleaseRequest(req)
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			c.prepare(req, t)
			for range 4 {
				if err := client.Do(req, resp); err != nil {
					b.Errorf("warm-up %s %s via %s: %v", c.method, c.path, t.addr, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
