package pluginhost_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/pluginhost"
)

func TestGuideExampleWithDefaultsPassesOrdinaryRequests(t *testing.T) {
	t.Parallel()
	r := startRig(t, load(t, pluginDir(t, "guide"), nil, nil))
	got := r.get(t, "/")
	if got.status != 200 || got.body != "origin\n" {
		t.Fatalf("GET / through the guide plugin: %d %q, want the origin's 200", got.status, got.body)
	}
	for k, want := range map[string]string{
		"X-Seen-Guide":           "guide", // the added request header
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
	} {
		if v := got.header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if _, err := time.ParseDuration(got.header.Get("X-Response-Time")); err != nil {
		t.Errorf("X-Response-Time %q is not a duration", got.header.Get("X-Response-Time"))
	}
	if got := r.get(t, "/private/report"); got.status != 401 {
		t.Errorf("GET /private/report without a key: %d, want 401", got.status)
	}
}

func TestGuideExampleAuthAndCORS(t *testing.T) {
	t.Parallel()
	cfg := map[string]any{
		"auth": map[string]any{"keys": []any{"k1"}},
		"cors": map[string]any{"allowed_origins": []any{"https://app.example"}},
	}
	r := startRig(t, load(t, pluginDir(t, "guide"), settings("guide", 0, cfg), nil))
	cases := []struct {
		desc       string
		method     string
		path       string
		header     map[string]string
		wantStatus int
		wantHeader map[string]string
		wantBody   string // substring
	}{
		{"private path without key", "GET", "/private/x", nil, 401,
			map[string]string{"Content-Type": "application/json"}, `"error":"missing or invalid API key"`},
		{"private path with a wrong key", "GET", "/private/x", map[string]string{"X-API-Key": "nope"}, 401, nil, "invalid API key"},
		{"private path with the key", "GET", "/private/x", map[string]string{"X-API-Key": "k1"}, 200, nil, "origin"},
		{"preflight from an allowed origin", "OPTIONS", "/api", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, 204,
			map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Max-Age": "600"}, ""},
		{"preflight from another origin", "OPTIONS", "/api", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, 403, nil, "origin not allowed"},
		{"simple request from an allowed origin", "GET", "/api", map[string]string{"Origin": "https://app.example"}, 200,
			map[string]string{"Access-Control-Allow-Origin": "https://app.example"}, "origin"},
	}
	for _, c := range cases {
		got := r.do(t, c.method, c.path, c.header)
		if got.status != c.wantStatus || !strings.Contains(got.body, c.wantBody) {
			t.Errorf("%s: got %d %q, want %d containing %q", c.desc, got.status, got.body, c.wantStatus, c.wantBody)
		}
		for k, v := range c.wantHeader {
			if got.header.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", c.desc, k, got.header.Get(k), v)
			}
		}
	}
	if !strings.Contains(r.do(t, "OPTIONS", "/api", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"}).header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Error("preflight does not list the default allowed methods")
	}
}

func TestGuideExampleRateLimitsPerClient(t *testing.T) {
	t.Parallel()
	cfg := map[string]any{"rate_limit": map[string]any{"requests": 3, "window": "1m"}}
	r := startRig(t, load(t, pluginDir(t, "guide"), settings("guide", 0, cfg), nil))
	for i := 0; i < 3; i++ {
		if got := r.get(t, "/"); got.status != 200 {
			t.Fatalf("request %d: %d, want 200", i+1, got.status)
		}
	}
	got := r.get(t, "/")
	if got.status != 429 || !strings.Contains(got.body, `"error":"rate limit exceeded"`) {
		t.Fatalf("4th request: %d %q, want 429 with a JSON error", got.status, got.body)
	}
	reset, err := strconv.ParseInt(got.header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < time.Now().Unix() || reset > time.Now().Add(61*time.Second).Unix() {
		t.Errorf("X-RateLimit-Reset = %q, want a Unix time within the window", got.header.Get("X-RateLimit-Reset"))
	}
}

func TestGuideExampleRejectsABadConfig(t *testing.T) {
	t.Parallel()
	_, err := pluginhost.Load(&configs.Config{
		PluginDirectory: pluginDir(t, "guide"),
		Plugins:         settings("guide", 0, map[string]any{"rate_limit": map[string]any{"window": "soon"}}),
	}, quiet)
	if err == nil || !strings.Contains(err.Error(), `plugin "guide"`) || !strings.Contains(err.Error(), "rate_limit.window") {
		t.Fatalf("Load error = %v; want one naming the plugin and the bad key", err)
	}
}
