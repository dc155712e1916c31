package middleware

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/spillway-lb/spillway/configs"
)

func TestSecurityHeadersAndHSTSOnlyOverTLS(t *testing.T) {
	chain := mustNew(t, []configs.Middleware{{Security: &configs.Security{
		HSTS: true, HSTSIncludeSubDomains: true, HSTSPreload: true,
		FrameOptions: "sameorigin", ContentTypeOptions: true, XSSProtection: true,
	}}}, nil)
	for _, tc := range []struct {
		desc    string
		overTLS bool
		hsts    string
	}{
		{"plain HTTP has no HSTS", false, ""},
		{"TLS has HSTS", true, "max-age=31536000; includeSubDomains; preload"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := newRig(t, chain, tc.overTLS)
			resp, _ := r.do(t, "GET", "/")
			want := map[string]string{
				"Strict-Transport-Security": tc.hsts,
				"X-Frame-Options":           "SAMEORIGIN",
				"X-Content-Type-Options":    "nosniff",
				"X-Xss-Protection":          "1; mode=block",
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestSecurityHSTSMaxAge(t *testing.T) {
	chain := mustNew(t, []configs.Middleware{{Security: &configs.Security{HSTS: true, HSTSMaxAge: 600}}}, nil)
	resp, _ := newRig(t, chain, true).do(t, "GET", "/")
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=600" {
		t.Errorf("HSTS %q", got)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "" {
		t.Errorf("X-Frame-Options %q without frame_options", got)
	}
}

func corsChain(t *testing.T, c configs.CORS) *Chain {
	return mustNew(t, []configs.Middleware{{CORS: &c}}, nil)
}

func TestCORSPreflightAnsweredByProxy(t *testing.T) {
	exact := configs.CORS{
		AllowedOrigins: []string{"https://app.test"}, AllowedMethods: []string{"get", "PUT"},
		AllowedHeaders: []string{"X-Token", "Content-Type"}, MaxAge: 600,
	}
	anyCreds := configs.CORS{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}, AllowCredentials: true}
	anyOpen := configs.CORS{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}}
	for _, tc := range []struct {
		desc    string
		cfg     configs.CORS
		origin  string
		method  string
		want    map[string]string // "" means absent
		forward bool              // not a preflight: the backend answers
	}{
		{"allowed origin and method", exact, "https://APP.test", "PUT", map[string]string{
			"Access-Control-Allow-Origin": "https://APP.test", "Access-Control-Allow-Methods": "GET, PUT",
			"Access-Control-Allow-Headers": "X-Token, Content-Type", "Access-Control-Max-Age": "600",
			"Access-Control-Allow-Credentials": ""}, false},
		{"origin not allowed", exact, "https://evil.test", "PUT", map[string]string{
			"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}, false},
		{"method not allowed", exact, "https://app.test", "DELETE", map[string]string{
			"Access-Control-Allow-Origin": ""}, false},
		{"any origin with credentials echoes", anyCreds, "https://x.test", "POST", map[string]string{
			"Access-Control-Allow-Origin": "https://x.test", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Headers": "X-Token"}, false},
		{"any origin without credentials", anyOpen, "https://x.test", "GET", map[string]string{
			"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "*"}, false},
		{"OPTIONS without Access-Control-Request-Method is forwarded", exact, "https://app.test", "", nil, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := newRig(t, corsChain(t, tc.cfg), false)
			hdrs := []string{"Origin: " + tc.origin, "Access-Control-Request-Headers: X-Token"}
			if tc.method != "" {
				hdrs = append(hdrs, "Access-Control-Request-Method: "+tc.method)
			}
			resp, _ := r.do(t, "OPTIONS", "/", hdrs...)
			if tc.forward {
				if r.backend.Load() != 1 {
					t.Errorf("backend not reached")
				}
				return
			}
			if resp.StatusCode != 204 || r.backend.Load() != 0 {
				t.Fatalf("status %d, backend hits %d; want 204 from the proxy", resp.StatusCode, r.backend.Load())
			}
			for k, v := range tc.want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if vary := varyTokens(resp.Header); !slices.Contains(vary, "origin") ||
				!slices.Contains(vary, "access-control-request-method") {
				t.Errorf("Vary %v lacks Origin or Access-Control-Request-Method", vary)
			}
		})
	}
}

func TestCORSSimpleRequests(t *testing.T) {
	exact := configs.CORS{AllowedOrigins: []string{"https://app.test"}, ExposedHeaders: []string{"X-Backend"}}
	for _, tc := range []struct {
		desc       string
		cfg        configs.CORS
		origin     string
		allow      string
		creds      string
		varyOrigin bool
	}{
		{"exact origin is echoed", exact, "https://app.test", "https://app.test", "", true},
		{"other origin gets nothing", exact, "https://evil.test", "", "", true},
		{"no Origin still varies", exact, "", "", "", true},
		{"wildcard without credentials", configs.CORS{AllowedOrigins: []string{"*"}}, "https://x.test", "*", "", false},
		{"wildcard with credentials echoes", configs.CORS{AllowedOrigins: []string{"*"}, AllowCredentials: true},
			"https://x.test", "https://x.test", "true", true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := newRig(t, corsChain(t, tc.cfg), false)
			var hdrs []string
			if tc.origin != "" {
				hdrs = append(hdrs, "Origin: "+tc.origin)
			}
			resp, _ := r.do(t, "GET", "/", hdrs...)
			if resp.StatusCode != 200 || r.backend.Load() != 1 {
				t.Fatalf("status %d, backend hits %d", resp.StatusCode, r.backend.Load())
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.allow {
				t.Errorf("Allow-Origin %q, want %q", got, tc.allow)
			}
			if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != tc.creds {
				t.Errorf("Allow-Credentials %q, want %q", got, tc.creds)
			}
			if got := slices.Contains(varyTokens(resp.Header), "origin"); got != tc.varyOrigin {
				t.Errorf("Vary: Origin %v, want %v", got, tc.varyOrigin)
			}
			if tc.allow != "" && len(tc.cfg.ExposedHeaders) > 0 &&
				resp.Header.Get("Access-Control-Expose-Headers") != "X-Backend" {
				t.Errorf("Expose-Headers %q", resp.Header.Get("Access-Control-Expose-Headers"))
			}
		})
	}
}

func TestCORSPolicyOverridesBackendHeaders(t *testing.T) {
	r := newRig(t, corsChain(t, configs.CORS{AllowedOrigins: []string{"https://app.test"}}), false)
	for _, tc := range []struct{ origin, want string }{
		{"https://evil.test", ""},
		{"https://app.test", "https://app.test"},
	} {
		resp, _ := r.do(t, "GET", "/cors-backend", "Origin: "+tc.origin)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.want {
			t.Errorf("origin %s: Allow-Origin %q, want %q", tc.origin, got, tc.want)
		}
	}
}

// varyTokens lists the Vary tokens of all Vary fields, lower-cased.
func varyTokens(h http.Header) []string {
	var out []string
	for _, f := range h.Values("Vary") {
		for _, v := range strings.Split(f, ",") {
			out = append(out, strings.ToLower(strings.TrimSpace(v)))
		}
	}
	return out
}
