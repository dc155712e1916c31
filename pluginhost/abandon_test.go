package pluginhost_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// slowReader reads the whole response body in its response phase and
// reports what it read and how its reads ended.
type slowReader struct {
	read chan []byte // what the plugin got from resp.Body, when it returns
	errs chan error  // the error that ended its reads
}

func (s *slowReader) Name() string   { return "slow_reader" }
func (s *slowReader) Priority() int  { return 0 }
func (s *slowReader) Cleanup() error { return nil }
func (s *slowReader) ProcessRequest(context.Context, *http.Request) *plugin.Result {
	return plugin.ResultContinue
}
func (s *slowReader) ProcessResponse(_ context.Context, resp *http.Response) *plugin.Result {
	if resp.Request.URL.Path != "/stream" {
		return plugin.ResultContinue
	}
	var got bytes.Buffer
	_, err := io.Copy(&got, resp.Body)
	s.read <- got.Bytes()
	s.errs <- err
	return plugin.ResultContinue
}

// TestPluginReadingAStreamPastItsBudget: a response-phase plugin blocked
// reading a streamed backend answer past its budget gets the client its
// 504 in about the budget, not when the backend sends more; its reads
// never reach a stream that another request has taken over (run under
// -race by make test); and once it returns, the backend's connection and
// its max_connections slot are given back.
func TestPluginReadingAStreamPastItsBudget(t *testing.T) {
	const budget = 200 * time.Millisecond
	gate := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			io.WriteString(w, "fast")
			return
		}
		w.Write(bytes.Repeat([]byte("a"), 1000))
		w.(http.Flusher).Flush() // chunked: the proxy streams it
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
		}
		w.Write(bytes.Repeat([]byte("b"), 1000))
	})}
	go origin.Serve(ln)
	t.Cleanup(func() { origin.Close() })

	p := &slowReader{read: make(chan []byte, 1), errs: make(chan error, 1)}
	h, err := pluginhost.New([]plugin.Handler{p},
		map[string]configs.PluginSettings{"slow_reader": {Timeout: configs.Duration(budget)}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{{
		Name: "stream",
		Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{
			{URL: "http://" + ln.Addr().String(), MaxConnections: 1}}}},
	}}}
	url := startProxy(t, cfg, h)
	client := &http.Client{Timeout: 10 * time.Second}

	start := time.Now()
	resp, err := client.Get(url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusGatewayTimeout || took > budget+time.Second {
		t.Fatalf("status %d after %v, want 504 in about the %v budget", resp.StatusCode, took, budget)
	}

	close(gate) // the plugin's blocked read now returns
	select {
	case got := <-p.read:
		if len(got) < 1000 || !bytes.Equal(got[:1000], bytes.Repeat([]byte("a"), 1000)) ||
			bytes.ContainsFunc(got, func(r rune) bool { return r != 'a' && r != 'b' }) {
			t.Errorf("the plugin read %d bytes not all of its own answer: %.40q…", len(got), got)
		}
		if err := <-p.errs; err == nil {
			t.Error("the plugin's reads after its budget ended without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin never returned")
	}

	// The slot (max_connections 1) is free again once the plugin returned.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := client.Get(url + "/fast")
		if err == nil {
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode == http.StatusOK && string(body) == "fast" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the plugin returned, /fast still fails: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
