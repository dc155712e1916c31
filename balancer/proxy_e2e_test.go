package balancer_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
)

// e2eOrigin is a real origin on loopback that answers its name and counts hits.
type e2eOrigin struct {
	*httptest.Server
	name string
	hits atomic.Int64
}

func startOrigins(t *testing.T, names ...string) []*e2eOrigin {
	t.Helper()
	var os []*e2eOrigin
	for _, n := range names {
		o := &e2eOrigin{name: n}
		o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o.hits.Add(1)
			io.WriteString(w, o.name)
		}))
		t.Cleanup(o.Close)
		os = append(os, o)
	}
	return os
}

// startSpillway runs a real Spillway on loopback in front of origins with
// the given policy and returns its base URL.
func startSpillway(t *testing.T, policy string, origins []*e2eOrigin) string {
	t.Helper()
	loc := configs.Location{Path: "/", LBPolicy: policy}
	for _, o := range origins {
		loc.Backends = append(loc.Backends, configs.Backend{URL: o.URL})
	}
	cfg := &configs.Config{
		Host:          "127.0.0.1",
		Services:      []configs.Service{{Name: "e2e", Locations: []configs.Location{loc}}},
		PassiveHealth: configs.PassiveHealth{FailureThreshold: 2, Backoff: configs.Duration(time.Minute)},
	}
	// fastproxy builds its pools with balancer.OptionsFor, whose logger is
	// slog.Default(): keep the expected ejections out of the test output.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	t.Cleanup(func() { slog.SetDefault(prev) })
	srv, err := fastproxy.New(cfg, fastproxy.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "http://" + srv.Addrs()[0].String() + "/"
}

func fetch(t *testing.T, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func TestSpillwayKeepsAnsweringWhenAnOriginIsKilled(t *testing.T) {
	for _, policy := range []string{"round-robin", "least-connections", "power-of-two", "consistent-hash", "sticky-session"} {
		t.Run(policy, func(t *testing.T) {
			origins := startOrigins(t, "a", "b", "c")
			u := startSpillway(t, policy, origins)
			c := &http.Client{Timeout: 10 * time.Second}
			for range 6 {
				if status, _, _ := fetch(t, c, u); status != 200 {
					t.Fatalf("status %d before the kill", status)
				}
			}
			victim := origins[0]
			for _, o := range origins {
				if o.hits.Load() > 0 {
					victim = o // one that served: its pooled connections go stale
					break
				}
			}
			victim.Close()
			before := victim.hits.Load()
			for i := range 30 {
				status, body, _ := fetch(t, c, u)
				if status != 200 || body == victim.name {
					t.Fatalf("request %d after killing %s: %d %q", i, victim.name, status, body)
				}
			}
			if victim.hits.Load() != before {
				t.Errorf("killed origin served after Close")
			}
		})
	}
}

func TestSpillwayAnswers503WithRetryAfterWhenEveryOriginIsDown(t *testing.T) {
	origins := startOrigins(t, "a", "b")
	u := startSpillway(t, "round-robin", origins)
	for _, o := range origins {
		o.Close()
	}
	c := &http.Client{Timeout: 10 * time.Second}
	// The first requests fail on connect (502) and eject both origins.
	for range 4 {
		fetch(t, c, u)
	}
	start := time.Now()
	status, _, h := fetch(t, c, u)
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("all origins ejected: status %d, Retry-After %q; want 503 with Retry-After", status, h.Get("Retry-After"))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("503 took %v", d)
	}
}

func TestSpillwayStickySessionPinsAClient(t *testing.T) {
	origins := startOrigins(t, "a", "b", "c")
	u := startSpillway(t, "sticky-session", origins)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	_, home, h := fetch(t, c, u)
	if h.Get("Set-Cookie") == "" {
		t.Fatal("first answer set no cookie")
	}
	for range 10 {
		if _, got, _ := fetch(t, c, u); got != home {
			t.Fatalf("pinned to %s, answered by %s", home, got)
		}
	}
}
