package adapter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// kept is what a plugin holds on to from one request after it ended.
type kept struct {
	id                              int
	method, path, query, host, addr string
	value                           string   // a header value
	values                          []string // a header's value slice
	key                             string   // an uncommon header key
	status, resValue                string
	body                            []byte
}

// Strings and slices a plugin keeps from many requests, served by
// concurrent clients so pooled exchanges are reused in between, still hold
// what each request carried once all have ended.
func TestRetainedValuesStayValidAfterRequestsEnd(t *testing.T) {
	const clients, perClient = 4, 40
	var mu sync.Mutex
	byValue := map[string]kept{} // header values as map keys, as plugins do
	addr := serve(t, true, fetch(echoOrigin(t), func(ctx *fasthttp.RequestCtx) {
		x := Acquire(ctx)
		defer Release(x)
		r := x.Request()
		body, _ := io.ReadAll(r.Body)
		res := x.Response()
		k := kept{
			method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, host: r.Host, addr: r.RemoteAddr,
			value: r.Header.Get("X-Id"), values: r.Header.Values("X-Multi"), body: body,
			status: res.Status, resValue: res.Header.Get("X-Echo"),
		}
		for key := range r.Header {
			if strings.HasPrefix(key, "X-Only-") {
				k.key = key
			}
		}
		mu.Lock()
		byValue[k.value] = k
		mu.Unlock()
	}))
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				id := c*perClient + i
				send(t, addr, fmt.Sprintf("PUT /item/%d?n=%d HTTP/1.1\r\nHost: h%d.example\r\nX-Id: id-%d\r\n"+
					"X-Multi: a%d\r\nX-Multi: b%d\r\nX-Only-%d: 1\r\nContent-Length: %d\r\n\r\n%s",
					id, id, id, id, id, id, id, len(fmt.Sprint(id)), fmt.Sprint(id)))
			}
		})
	}
	wg.Wait()
	if len(byValue) != clients*perClient {
		t.Fatalf("kept %d requests, want %d", len(byValue), clients*perClient)
	}
	for value, k := range byValue {
		var id int
		if _, err := fmt.Sscanf(value, "id-%d", &id); err != nil {
			t.Fatalf("map key changed: %q", value)
		}
		want := kept{
			method: "PUT", path: fmt.Sprintf("/item/%d", id), query: fmt.Sprintf("n=%d", id),
			host: fmt.Sprintf("h%d.example", id), value: value,
			values: []string{fmt.Sprintf("a%d", id), fmt.Sprintf("b%d", id)},
			key:    fmt.Sprintf("X-Only-%d", id), body: []byte(fmt.Sprint(id)),
			status: "200 OK", resValue: value, addr: k.addr,
		}
		if fmt.Sprint(k) != fmt.Sprint(want) {
			t.Errorf("request %d kept\n%v\nwant\n%v", id, k, want)
		}
	}
}

// echoOrigin answers with the request's X-Id in X-Echo.
func echoOrigin(t *testing.T) string {
	s := httpServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("X-Id"))
		io.WriteString(w, "ok") //nolint:errcheck
	})
	return s
}

// Concurrent exchanges each see and change only their own request.
func TestConcurrentExchangesSeeOnlyTheirOwnRequest(t *testing.T) {
	to := httpServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("X-Plugin"))
		io.WriteString(w, r.URL.Path) //nolint:errcheck
	})
	addr := serve(t, false, func(ctx *fasthttp.RequestCtx) {
		x := Acquire(ctx)
		defer Release(x)
		r := x.Request()
		r.Header.Set("X-Plugin", r.Header.Get("X-Id"))
		r.URL.Path += "/seen"
		x.ApplyRequest()
		if err := fasthttp.Do(requestTo(&ctx.Request, to), &ctx.Response); err != nil {
			ctx.Error(err.Error(), 502)
			return
		}
		res := x.Response()
		res.Header.Set("X-Final", res.Header.Get("X-Echo")+"+resp")
		x.ApplyResponse()
	})
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for c := range 8 {
		wg.Go(func() {
			for i := range 25 {
				id := fmt.Sprintf("%d-%d", c, i)
				res, body, _ := send(t, addr, "GET /c/"+id+" HTTP/1.1\r\nHost: a\r\nX-Id: "+id+"\r\n\r\n")
				if got := res.Header.Get("X-Final"); got != id+"+resp" || body != "/c/"+id+"/seen" {
					errs <- fmt.Errorf("request %s: X-Final %q, body %q", id, got, body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// requestTo points req at the origin addr for fasthttp.Do.
func requestTo(req *fasthttp.Request, addr string) *fasthttp.Request {
	req.SetRequestURI("http://" + addr + string(req.RequestURI()))
	return req
}

// An abandoned exchange never returns to the pool: later requests never get
// its objects, its plugin's late body reads fail, its context is canceled,
// and its pending changes are not written back.
func TestAbandonKeepsObjectsOutOfThePool(t *testing.T) {
	type late struct {
		readErr error
		ctxErr  error
		applied bool
	}
	var (
		mu        sync.Mutex
		abandoned = map[*Exchange]bool{}
		reqs      = map[*http.Request]bool{}
		reused    []string
	)
	lateDone := make(chan late, 1)
	addr := serve(t, true, func(ctx *fasthttp.RequestCtx) {
		x := Acquire(ctx)
		r := x.Request()
		mu.Lock()
		if abandoned[x] || reqs[r] {
			reused = append(reused, string(ctx.Path()))
		}
		mu.Unlock()
		if string(ctx.Path()) != "/slow" {
			Release(x)
			return
		}
		// The plugin overruns: it is still running when the host gives up.
		started, proceed := make(chan struct{}), make(chan struct{})
		go func() {
			r.Header.Set("X-Late", "1")
			close(started)
			<-proceed
			_, err := r.Body.Read(make([]byte, 4))
			lateDone <- late{readErr: err, ctxErr: r.Context().Err()}
		}()
		<-started
		x.Abandon()
		x.ApplyRequest()
		applied := len(ctx.Request.Header.Peek("X-Late")) > 0
		mu.Lock()
		abandoned[x], reqs[r] = true, true
		mu.Unlock()
		Release(x)
		close(proceed)
		l := <-lateDone
		l.applied = applied
		lateDone <- l
		ctx.SetStatusCode(http.StatusGatewayTimeout)
	})
	send(t, addr, "POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody")
	var l late
	select {
	case l = <-lateDone:
	case <-time.After(5 * time.Second):
		t.Fatal("late plugin did not finish")
	}
	if !errors.Is(l.readErr, errAbandoned) {
		t.Errorf("late body read: %v, want errAbandoned", l.readErr)
	}
	expect(t, "late ctx.Err", l.ctxErr, context.Canceled)
	expect(t, "changes written back after Abandon", l.applied, false)
	for i := range 200 {
		send(t, addr, fmt.Sprintf("GET /after/%d HTTP/1.1\r\nHost: a\r\n\r\n", i))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reused) > 0 {
		t.Errorf("abandoned objects reused by %v", reused)
	}
}
