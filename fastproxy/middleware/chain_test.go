package middleware

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

func TestNewServiceEntryReplacesGlobalKind(t *testing.T) {
	global := []configs.Middleware{
		{RateLimit: &configs.RateLimit{RequestsPerSecond: 1}},
		{Security: &configs.Security{FrameOptions: "DENY"}},
		{Compression: true},
		{CircuitBreaker: &configs.CircuitBreaker{FailureThreshold: 3}},
	}
	for _, tc := range []struct {
		desc                            string
		service                         []configs.Middleware
		limit, security, compress, cors bool
		frame                           string
	}{
		{"global only", nil, true, true, true, false, "DENY"},
		{"service security replaces the global one", []configs.Middleware{
			{Security: &configs.Security{FrameOptions: "SAMEORIGIN"}}}, true, true, true, false, "SAMEORIGIN"},
		{"compression false turns the global off", []configs.Middleware{{Compression: false}},
			true, true, false, false, "DENY"},
		{"service adds a kind", []configs.Middleware{{CORS: &configs.CORS{AllowedOrigins: []string{"*"}}}},
			true, true, true, true, "DENY"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := mustNew(t, global, tc.service)
			got := [4]bool{c.limit != nil, c.security != nil, c.compress != nil, c.cors != nil}
			if got != [4]bool{tc.limit, tc.security, tc.compress, tc.cors} {
				t.Errorf("kinds (limit, security, compress, cors) = %v", got)
			}
			if c.security != nil && c.security.frameOptions != tc.frame {
				t.Errorf("frame options %q, want %q", c.security.frameOptions, tc.frame)
			}
		})
	}
}

func TestNewEmptyChain(t *testing.T) {
	for _, lists := range [][2][]configs.Middleware{
		{nil, nil},
		{{{CircuitBreaker: &configs.CircuitBreaker{}}}, nil},
		{{{Compression: true}}, {{Compression: false}}},
	} {
		c := mustNew(t, lists[0], lists[1])
		if !c.Empty() {
			t.Errorf("chain of %v is not empty", lists)
		}
		var ctx fasthttp.RequestCtx
		if c.Request(&ctx, netip.Addr{}) {
			t.Error("an empty chain answered")
		}
	}
}

// TestNewRefusesBadSettings: New refuses what the kinds' Check methods in
// configs report (and -check with them), in the same words.
func TestNewRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct {
		m    configs.Middleware
		want string
	}{
		{configs.Middleware{RateLimit: &configs.RateLimit{}}, "requests_per_second"},
		{configs.Middleware{RateLimit: &configs.RateLimit{RequestsPerSecond: math.NaN()}},
			"middleware rate_limit: requests_per_second: NaN: expected a rate greater than 0"},
		{configs.Middleware{RateLimit: &configs.RateLimit{RequestsPerSecond: math.Inf(1)}},
			"middleware rate_limit: requests_per_second: +Inf: expected a finite rate"},
		{configs.Middleware{RateLimit: &configs.RateLimit{RequestsPerSecond: 1, Burst: -1}}, "burst"},
		{configs.Middleware{Security: &configs.Security{FrameOptions: "ALLOW-FROM x"}},
			`middleware security: frame_options: "ALLOW-FROM x": expected DENY or SAMEORIGIN`},
		{configs.Middleware{Security: &configs.Security{HSTS: true, HSTSMaxAge: -1}}, "hsts_max_age"},
		{configs.Middleware{CORS: &configs.CORS{}},
			`middleware cors: allowed_origins: empty: list the origins that may read answers, or "*"`},
		{configs.Middleware{CORS: &configs.CORS{AllowedOrigins: []string{"*"}, MaxAge: -1}}, "max_age"},
	} {
		_, err := New(nil, []configs.Middleware{tc.m})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one about %s", err, tc.want)
		}
	}
}

func TestRateLimitedAnswerCarriesCORSAndSecurityHeaders(t *testing.T) {
	chain := mustNew(t, []configs.Middleware{
		{RateLimit: &configs.RateLimit{RequestsPerSecond: 0.001, Burst: 1}},
		{CORS: &configs.CORS{AllowedOrigins: []string{"https://app.test"}}},
		{Security: &configs.Security{ContentTypeOptions: true}},
	}, nil)
	r := newRig(t, chain, false)
	r.do(t, "GET", "/", "Origin: https://app.test")
	resp, _ := r.do(t, "GET", "/", "Origin: https://app.test")
	if resp.StatusCode != 429 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.test" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("429 lacks CORS or security headers: %v", resp.Header)
	}
}

// Example shows how the proxy drives a chain around one request.
func Example() {
	chain, err := New(
		[]configs.Middleware{{Security: &configs.Security{ContentTypeOptions: true}}, {Compression: true}},
		[]configs.Middleware{{CORS: &configs.CORS{AllowedOrigins: []string{"https://app.example"}}}},
	)
	if err != nil {
		panic(err)
	}
	defer chain.Close()

	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.Header.Set("Origin", "https://app.example")
	if chain.Request(&ctx, netip.MustParseAddr("192.0.2.1")) {
		return // answered by the chain; do not forward
	}
	// ... forward, receive the backend's answer into ctx.Response ...
	ctx.Response.SetBodyString("hello")
	chain.Response(&ctx)
	fmt.Println(string(ctx.Response.Header.Peek("Access-Control-Allow-Origin")))
	fmt.Println(string(ctx.Response.Header.Peek("X-Content-Type-Options")))
	// Output:
	// https://app.example
	// nosniff
}
