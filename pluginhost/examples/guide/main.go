// Command guide is the plugin guide's full example: per-client rate
// limiting, CORS with preflight answers, API-key authentication under a
// path prefix, an added request header, and security and timing headers on
// responses, all configured through Configure with defaults:
//
//	plugins:
//	  guide:
//	    config:
//	      rate_limit: {requests: 100, window: "1s"}
//	      cors: {allowed_origins: ["https://app.example"], max_age: 600}
//	      auth: {path_prefix: "/private/", header: "X-API-Key", keys: ["demo-key"]}
//
// Build it with
//
//	CGO_ENABLED=1 go build -buildmode=plugin -o plugins/guide.so ./pluginhost/examples/guide
package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// Config is the plugin's config block; Configure starts from defaults().
type Config struct {
	RateLimit struct {
		Requests int    `json:"requests"` // per client per window; 0 disables
		Window   string `json:"window"`
	} `json:"rate_limit"`
	CORS struct {
		AllowedOrigins []string `json:"allowed_origins"` // "*" allows any
		AllowedMethods []string `json:"allowed_methods"`
		AllowedHeaders []string `json:"allowed_headers"`
		MaxAge         int      `json:"max_age"`
	} `json:"cors"`
	Auth struct {
		PathPrefix string   `json:"path_prefix"` // only these paths need a key
		Header     string   `json:"header"`
		Keys       []string `json:"keys"`
	} `json:"auth"`
	RequestHeader string `json:"request_header"` // added to every forwarded request
}

func defaults() Config {
	var c Config
	c.RateLimit.Requests = 100
	c.RateLimit.Window = "1s"
	c.CORS.AllowedOrigins = []string{"*"}
	c.CORS.AllowedMethods = []string{"GET", "POST", "PUT", "DELETE", "OPTIONS"}
	c.CORS.AllowedHeaders = []string{"Content-Type", "Authorization", "X-API-Key"}
	c.CORS.MaxAge = 600
	c.Auth.PathPrefix = "/private/"
	c.Auth.Header = "X-API-Key"
	c.Auth.Keys = []string{"demo-key"}
	c.RequestHeader = "X-Guide-Plugin"
	return c
}

type guide struct {
	cfg     Config
	limiter *limiter
	keys    map[string]bool
	origins map[string]bool
	methods string
	headers string
	maxAge  string
}

type startKey struct{}

// New is the symbol Spillway looks up; Configure completes the set-up.
func New() plugin.Handler {
	g := &guide{}
	if err := g.Configure([]byte("{}")); err != nil {
		panic(err) // the defaults are valid
	}
	return g
}

func (g *guide) Name() string   { return "guide" }
func (g *guide) Priority() int  { return 50 }
func (g *guide) Cleanup() error { return nil }

// Configure reads the config block over the defaults and checks it.
func (g *guide) Configure(b []byte) error {
	cfg := defaults()
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	window, err := time.ParseDuration(cfg.RateLimit.Window)
	if err != nil || window <= 0 {
		return errorf("rate_limit.window: want a positive duration such as \"1s\", got %q", cfg.RateLimit.Window)
	}
	g.cfg = cfg
	g.limiter = newLimiter(cfg.RateLimit.Requests, window)
	g.keys = set(cfg.Auth.Keys)
	g.origins = set(cfg.CORS.AllowedOrigins)
	g.methods = join(cfg.CORS.AllowedMethods)
	g.headers = join(cfg.CORS.AllowedHeaders)
	g.maxAge = strconv.Itoa(cfg.CORS.MaxAge)
	return nil
}

func (g *guide) ProcessRequest(_ context.Context, req *http.Request) *plugin.Result {
	if ok, reset := g.limiter.allow(clientIP(req.RemoteAddr)); !ok {
		return plugin.NewResult(plugin.Stop,
			plugin.WithStatus(http.StatusTooManyRequests),
			plugin.WithHeaders(http.Header{"X-Ratelimit-Reset": {strconv.FormatInt(reset.Unix(), 10)}}),
			plugin.WithJSONResponse(map[string]any{"error": "rate limit exceeded", "retry_at": reset.UTC().Format(time.RFC3339)}))
	}
	origin := req.Header.Get("Origin")
	if req.Method == http.MethodOptions && origin != "" && req.Header.Get("Access-Control-Request-Method") != "" {
		return g.preflight(origin)
	}
	if p := g.cfg.Auth.PathPrefix; p != "" && hasPrefix(req.URL.Path, p) && !g.keys[req.Header.Get(g.cfg.Auth.Header)] {
		return plugin.NewResult(plugin.Stop,
			plugin.WithStatus(http.StatusUnauthorized),
			plugin.WithJSONResponse(map[string]string{"error": "missing or invalid API key"}))
	}
	if g.cfg.RequestHeader != "" {
		req.Header.Set(g.cfg.RequestHeader, "guide")
	}
	// The start time rides on the request's context to the response phase.
	*req = *req.WithContext(context.WithValue(req.Context(), startKey{}, time.Now()))
	return plugin.ResultModify
}

func (g *guide) ProcessResponse(_ context.Context, resp *http.Response) *plugin.Result {
	h := resp.Header
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	if origin := resp.Request.Header.Get("Origin"); origin != "" && g.allowed(origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	if start, ok := resp.Request.Context().Value(startKey{}).(time.Time); ok {
		h.Set("X-Response-Time", time.Since(start).String())
	}
	return plugin.ResultModify
}

// preflight answers a CORS preflight itself: the backend never sees it.
func (g *guide) preflight(origin string) *plugin.Result {
	if !g.allowed(origin) {
		return plugin.NewResult(plugin.Stop, plugin.WithStatus(http.StatusForbidden),
			plugin.WithJSONResponse(map[string]string{"error": "origin not allowed"}))
	}
	return plugin.NewResult(plugin.Stop, plugin.WithStatus(http.StatusNoContent), plugin.WithHeaders(http.Header{
		"Access-Control-Allow-Origin":  {origin},
		"Access-Control-Allow-Methods": {g.methods},
		"Access-Control-Allow-Headers": {g.headers},
		"Access-Control-Max-Age":       {g.maxAge},
		"Vary":                         {"Origin"},
	}))
}

func (g *guide) allowed(origin string) bool { return g.origins["*"] || g.origins[origin] }

// main is never run: Spillway loads this package as a plugin. It lets
// `go build ./...` build the package like any other command.
func main() {}
