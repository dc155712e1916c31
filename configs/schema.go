// Package configs defines Spillway's configuration: its schema, the loader
// that reads it from YAML with file:line positions, its defaults and its
// validation. It reads Terraster's keys so a Terraster configuration file
// works unchanged; keys Terraster has and Spillway does not implement yet are
// reported as warnings, and keys neither knows are errors.
//
// Load (or Parse, for bytes) reads a file, decodes it against the types
// below by their `yaml` tags (so a field added here is known to the loader
// at once) and calls Prepare, which applies the defaults written in the
// field comments, normalizes and validates. Every problem found is
// reported, not only the first, each as a Problem that prints as
// "file:line: key: what is wrong"; the error is then an *Error listing
// them all. The field comments below are the configuration reference;
// configs/spillway.yaml shows every key.
//
// Everything here is the slow path: it runs at start-up and on -check, never
// per request.
package configs

import (
	"crypto/tls"
	"time"
)

// Config is a whole configuration file.
//
// The top-level Port, Host, Backends and Algorithm form a default service
// (Terraster's single-service form); Services lists named virtual hosts.
// Both may be used together. Prepare turns the top-level Backends into a
// Service named "default", so after Prepare consumers iterate only
// Services.
//
// Fields tagged `spillway:"unimplemented"` are Terraster keys Spillway
// accepts with a warning and otherwise ignores; the loader never fills
// them.
type Config struct {
	// Port is the listener of the default service and the port of every
	// service without its own. Default 8080 when the key is absent from the
	// file; 0 (written, or left zero in a Config built in code) means an
	// ephemeral port, which tests use. A Port without Backends opens no
	// listener of its own.
	Port int `yaml:"port"`
	// Host is the address the default service's listener binds to
	// (empty: all interfaces).
	Host string `yaml:"host"`
	// Algorithm is the load-balancing policy of every location without its
	// own lb_policy. Default round-robin. One of Policies, with '-' or '_'
	// (least_connections = least-connections); an unknown name is an error,
	// never a silent round-robin. Prepare stores the canonical form.
	Algorithm string `yaml:"algorithm"`
	// HashKey and HashBound are the consistent-hash options of every
	// location without its own (see Location.HashKey, Location.HashBound).
	// Defaults "ip" and 0.25.
	HashKey   string   `yaml:"hash_key"`
	HashBound *float64 `yaml:"hash_bound"`
	// StickyCookie names the cookie of sticky-session for every location
	// without its own. Default "spillway_sticky".
	StickyCookie string `yaml:"sticky_cookie"`
	// StickyBase is the policy sticky-session falls back to for a request
	// without a valid cookie, for every location without its own: any
	// policy but sticky-session. Default "round-robin".
	StickyBase string `yaml:"sticky_base"`
	// Backends are the default service's backends, served on Port for any
	// Host under the path "/".
	Backends []Backend `yaml:"backends"`
	// Services are named virtual hosts, chosen by port and Host header.
	Services []Service `yaml:"services"`

	// PluginDirectory holds the .so plugins loaded at start. Default
	// "./plugins", relative to the working directory (unlike certificate
	// files, which are relative to the configuration file).
	PluginDirectory string `yaml:"plugin_directory"`
	// PluginStrict refuses to start when a plugin file cannot be loaded.
	// Default true; false skips a bad file with a warning.
	PluginStrict *bool `yaml:"plugin_strict"`
	// Plugins holds per-plugin settings, keyed by the plugin's Name().
	Plugins map[string]PluginSettings `yaml:"plugins"`

	ConnectionPool Pool `yaml:"connection_pool"`
	// HealthCheck is the active health check of every backend without a
	// more specific one (service, then backend, wins). Active checks run
	// only when a health_check block is written somewhere; without one,
	// backends are judged by passive health alone.
	HealthCheck *HealthCheck `yaml:"health_check"`
	// Middleware runs for every service; a service's entry replaces the
	// global entry of the same kind. A global circuit_breaker entry sets
	// PassiveHealth.
	Middleware []Middleware `yaml:"middleware"`
	// TLS applies to every service without its own tls block, except
	// http_redirect ones, when it has enabled: true (see ServiceTLS).
	TLS *TLS `yaml:"tls"`

	// TrustedProxies lists the CIDRs (or single addresses) whose X-Forwarded-* headers are
	// believed. When set, X-Forwarded-* from any other peer are dropped
	// before the proxy appends its own. Empty: incoming X-Forwarded-For is
	// kept and appended to, as nginx and httputil do.
	TrustedProxies []string `yaml:"trusted_proxies"`

	Timeouts      Timeouts      `yaml:"timeouts"`
	Limits        Limits        `yaml:"limits"`
	Retry         Retry         `yaml:"retry"`
	PassiveHealth PassiveHealth `yaml:"passive_health"`
	// ShutdownGrace bounds how long in-flight requests and plugin Cleanup
	// may take after SIGTERM/SIGINT. Default 30s.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// ShutdownDelay keeps serving this long after SIGTERM/SIGINT before
	// the shutdown proper, with GET /ready answering 503 and every answer
	// closing its connection, so that whatever balances in front moves
	// its clients elsewhere first. Default 0: none.
	ShutdownDelay Duration `yaml:"shutdown_delay"`
	// UpgradeTimeout bounds how long, after SIGUSR2, the running process
	// waits for the new one to serve before it stops it and goes on
	// serving itself. Default 1m.
	UpgradeTimeout Duration `yaml:"upgrade_timeout"`
	Log            Log      `yaml:"log"`
	// AccessLog writes one line per answered request; off unless a path
	// is set.
	AccessLog AccessLog `yaml:"access_log"`
	// Metrics serves Prometheus metrics; off unless listen is set.
	Metrics Metrics `yaml:"metrics"`

	// Terraster's top-level keys that Spillway does not implement: accepted
	// with a warning naming them (and where the supported form lives).
	AdminPort      any `yaml:"admin_port" spillway:"unimplemented" hint:"Spillway has no admin API; metrics.listen serves Prometheus metrics"`
	AdminAPI       any `yaml:"admin_api" spillway:"unimplemented" hint:"Spillway has no admin API; metrics.listen serves Prometheus metrics"`
	Auth           any `yaml:"auth" spillway:"unimplemented" hint:"Spillway has no admin API to authenticate"`
	CertManager    any `yaml:"cert_manager" spillway:"unimplemented" hint:"certificates come from tls.cert_file and tls.key_file and are re-read when they change"`
	HTTPPort       any `yaml:"http_port" spillway:"unimplemented" hint:"listeners come from port and services[].port; http_redirect on a plain-HTTP service sends clients to HTTPS"`
	HTTPSPort      any `yaml:"https_port" spillway:"unimplemented" hint:"a service with a tls block listens with TLS on its own port"`
	OldRateLimit   any `yaml:"rate_limit" spillway:"unimplemented" hint:"the supported form is a middleware list entry: middleware: [{rate_limit: {requests_per_second: N, burst: N}}]"`
	OldCORS        any `yaml:"cors" spillway:"unimplemented" hint:"the supported form is a middleware list entry: middleware: [{cors: {...}}]"`
	OldSecurity    any `yaml:"security" spillway:"unimplemented" hint:"the supported form is a middleware list entry: middleware: [{security: {...}}]"`
	OldCircuitBrkr any `yaml:"circuit_breaker" spillway:"unimplemented" hint:"the supported form is a middleware list entry: middleware: [{circuit_breaker: {failure_threshold: N, reset_timeout: 30s}}], or passive_health"`

	// File is the path the configuration was read from ("" when built in code).
	File string `yaml:"-"`
	// Positions maps a key path such as "services[0].locations[1].path" to
	// its line in File, for messages raised after loading.
	Positions map[string]int `yaml:"-"`
}

// Service is a virtual host: a listener port, a Host name and its locations.
//
// Services sharing a port must have distinct hosts (case-insensitive) and
// must be all plain HTTP or all TLS with the same listener settings
// (cipher_suites, session_tickets_disabled, min_version).
type Service struct {
	// Name names the service in logs and messages.
	Name string `yaml:"name"`
	// Host is matched case-insensitively against the request's Host header
	// with any port removed. Empty: the port's default service.
	Host string `yaml:"host"`
	// Port is the listener; several services may share one. Default: the
	// top-level port (itself 8080 by default).
	Port int `yaml:"port"`
	// TLS makes the service's listener TLS; see Config.ServiceTLS for how
	// it combines with the global tls block.
	TLS *TLS `yaml:"tls"`
	// HTTPRedirect answers every request with 301 to https://HOST[:RedirectPort]/path?query.
	HTTPRedirect bool `yaml:"http_redirect"`
	// RedirectPort is the HTTPS port of HTTPRedirect. Default 443 (omitted from the URL).
	RedirectPort int `yaml:"redirect_port"`
	// HealthCheck overrides the global health_check for this service's
	// backends (a backend's own block wins over both).
	HealthCheck *HealthCheck `yaml:"health_check"`
	// Middleware entries replace the global entries of the same kind.
	Middleware []Middleware `yaml:"middleware"`
	// Locations are the service's path prefixes; at least one, unless
	// HTTPRedirect is set. Paths are unique within a service.
	Locations []Location `yaml:"locations"`
	// Headers are the service's header rules.
	Headers *Headers `yaml:"headers"`
	// PluginDisabled runs no plugins for this service.
	PluginDisabled bool `yaml:"plugin_disabled"`

	// Terraster keys not implemented by Spillway: accepted with a warning.
	LogName    string         `yaml:"log_name" spillway:"unimplemented"`
	LogOptions map[string]any `yaml:"log_options" spillway:"unimplemented"`

	// synth marks the service Prepare made from the top-level backends, so
	// that Prepare stays idempotent and messages point at the top-level keys.
	synth bool
}

// Location routes a path prefix of a service to a set of backends.
type Location struct {
	// Path is the prefix matched; the longest matching one wins. Default "/".
	Path string `yaml:"path"`
	// Rewrite replaces the matched prefix before forwarding; starts with "/".
	Rewrite string `yaml:"rewrite"`
	// Redirect answers a request for exactly "/" on location "/" with 301
	// to this path (starts with "/"). A location that only redirects needs
	// no backends.
	Redirect string `yaml:"redirect"`
	// LBPolicy overrides Config.Algorithm for this location. After Prepare
	// it holds the effective policy in canonical form (see CanonicalPolicy).
	LBPolicy string `yaml:"lb_policy"`
	// HashKey is what consistent-hash hashes: "ip", "header:NAME",
	// "cookie:NAME" or "path". Default: the top-level hash_key, else "ip".
	// After Prepare its kind is in lower case ("Header:X-User" →
	// "header:X-User").
	HashKey string `yaml:"hash_key"`
	// HashBound is consistent-hash's load bound: no backend carries more than
	// (1+HashBound) times its fair share of the requests in flight, ≥ 0.
	// Default: the top-level hash_bound, else 0.25.
	HashBound *float64 `yaml:"hash_bound"`
	// StickyCookie overrides Config.StickyCookie for this location.
	StickyCookie string `yaml:"sticky_cookie"`
	// StickyBase overrides Config.StickyBase for this location; after
	// Prepare it holds the effective base policy in canonical form.
	StickyBase string `yaml:"sticky_base"`
	// Backends serve the location; required unless it only redirects.
	Backends []Backend `yaml:"backends"`
}

// Backend is one upstream server.
type Backend struct {
	// URL is http://host:port[/path] or https://...; its path is prepended
	// to forwarded paths. Required; no query, fragment or user info.
	URL string `yaml:"url"`
	// Weight is the backend's share for weighted policies. Default 1
	// (0 also means 1).
	Weight int `yaml:"weight"`
	// MaxConnections caps requests in flight to this backend (0: no cap).
	MaxConnections int `yaml:"max_connections"`
	// SkipTLSVerify accepts any certificate from an https backend.
	SkipTLSVerify bool `yaml:"skip_tls_verify"`
	// HealthCheck is this backend's own active check, the most specific.
	HealthCheck *HealthCheck `yaml:"health_check"`
	// SNI is the server name sent to an https backend (default: the URL's host).
	SNI string `yaml:"sni"`
	// CAFile verifies an https backend against this PEM bundle instead of
	// the system roots. It must exist and hold a certificate; a relative
	// name is read from the configuration file's directory.
	CAFile string `yaml:"ca_file"`

	HTTP2 *bool `yaml:"http2" spillway:"unimplemented"`
}

// Headers are per-service header rules, applied after hop-by-hop removal.
// Names must be valid header names (tokens) and values may not hold
// control characters.
type Headers struct {
	// RequestHeaders are set (replacing any of the same name) on the
	// request to the backend; ResponseHeaders on the answer to the client.
	RequestHeaders  map[string]string `yaml:"request_headers"`
	ResponseHeaders map[string]string `yaml:"response_headers"`
	// RemoveRequestHeaders and RemoveResponseHeaders are deleted.
	RemoveRequestHeaders  []string `yaml:"remove_request_headers"`
	RemoveResponseHeaders []string `yaml:"remove_response_headers"`
}

// PluginSettings are Spillway's per-plugin settings.
type PluginSettings struct {
	// Enabled defaults to true.
	Enabled *bool `yaml:"enabled"`
	// Timeout is the plugin's budget per call. Default 5s; negative is an error.
	Timeout Duration `yaml:"timeout"`
	// Config is passed as JSON to the plugin's Configure method; any YAML
	// is accepted here (numbers as int or float64, lists as []any, mappings
	// as map[string]any).
	Config map[string]any `yaml:"config"`
}

// Pool configures backend connections.
type Pool struct {
	// MaxIdle caps idle keep-alive connections kept per backend. Default 512.
	MaxIdle int `yaml:"max_idle"`
	// MaxOpen caps connections per backend (0: no cap beyond max_connections).
	// Negative values here and below are errors.
	MaxOpen int `yaml:"max_open"`
	// IdleTimeout closes keep-alive connections idle this long. Default 90s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// QueueTimeout lets a request wait this long for a backend below its
	// max_connections before answering 503. Default 0: answer at once.
	QueueTimeout Duration `yaml:"queue_timeout"`
}

// HealthCheck is an active health check (Terraster's keys). Writing a
// health_check block anywhere (global, service or backend) is what turns
// active checks on ("health_check: {}" turns them on with every default);
// Prepare fills the unset fields of each written block.
type HealthCheck struct {
	// Type is "http" (default) or "tcp".
	Type string `yaml:"type"`
	// Path is requested by http checks. Default "/health".
	Path string `yaml:"path"`
	// Interval is the time between checks. Default 10s; must be > 0.
	Interval Duration `yaml:"interval"`
	// Timeout bounds one check. Default 2s; must be > 0.
	Timeout    Duration   `yaml:"timeout"`
	Thresholds Thresholds `yaml:"thresholds"`
	// SkipTLSVerify accepts any certificate when checking an https backend.
	SkipTLSVerify bool `yaml:"skip_tls_verify"`
}

// Thresholds are consecutive results needed to change a backend's state.
type Thresholds struct {
	// Healthy consecutive passes bring a backend back. Default 2.
	Healthy int `yaml:"healthy"`
	// Unhealthy consecutive failures take a backend out. Default 3.
	Unhealthy int `yaml:"unhealthy"`
}

// Middleware is one entry of a middleware list; exactly one key is written
// per entry (an entry with none or several is an error). A service's entry
// replaces the global entry of the same kind, so a service may write
// "compression: false" to turn off a global compression entry.
type Middleware struct {
	RateLimit      *RateLimit      `yaml:"rate_limit"`
	CircuitBreaker *CircuitBreaker `yaml:"circuit_breaker"`
	Security       *Security       `yaml:"security"`
	CORS           *CORS           `yaml:"cors"`
	Compression    bool            `yaml:"compression"`
}

// RateLimit is a token bucket per client address.
type RateLimit struct {
	// RequestsPerSecond is the refill rate; required, > 0.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Burst is the bucket size (≥ 0).
	Burst int `yaml:"burst"`
}

// CircuitBreaker sets passive ejection: FailureThreshold consecutive
// failures eject a backend for ResetTimeout (growing while it keeps failing).
// Set, they override passive_health's failure_threshold and backoff (the
// global entry in Config.PassiveHealth; a service's entry for its own
// backends).
type CircuitBreaker struct {
	FailureThreshold int      `yaml:"failure_threshold"`
	ResetTimeout     Duration `yaml:"reset_timeout"`
}

// Security adds security response headers.
type Security struct {
	// HSTS sends Strict-Transport-Security, on TLS listeners only, with
	// max-age HSTSMaxAge (seconds, ≥ 0) and the includeSubDomains and
	// preload flags when set.
	HSTS                  bool `yaml:"hsts"`
	HSTSMaxAge            int  `yaml:"hsts_max_age"`
	HSTSIncludeSubDomains bool `yaml:"hsts_include_subdomains"`
	HSTSPreload           bool `yaml:"hsts_preload"`
	// FrameOptions is the X-Frame-Options value (DENY, SAMEORIGIN); empty
	// sends none.
	FrameOptions string `yaml:"frame_options"`
	// ContentTypeOptions sends X-Content-Type-Options: nosniff.
	ContentTypeOptions bool `yaml:"content_type_options"`
	// XSSProtection sends X-XSS-Protection.
	XSSProtection bool `yaml:"xss_protection"`
}

// CORS answers preflight requests and decorates responses. "*" in
// AllowedOrigins together with AllowCredentials is an error: browsers
// refuse that combination.
type CORS struct {
	// AllowedOrigins are exact origins ("https://a.example") or "*".
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedMethods, AllowedHeaders and ExposedHeaders are answered in
	// preflights and responses; each entry is a token or "*".
	AllowedMethods []string `yaml:"allowed_methods"`
	AllowedHeaders []string `yaml:"allowed_headers"`
	ExposedHeaders []string `yaml:"exposed_headers"`
	// AllowCredentials sends Access-Control-Allow-Credentials: true.
	AllowCredentials bool `yaml:"allow_credentials"`
	// MaxAge lets browsers cache a preflight answer this many seconds (≥ 0).
	MaxAge int `yaml:"max_age"`
}

// TLS is Terraster's TLS block, globally or per service. A service's block
// is on unless it says enabled: false; the global block applies, to the
// services without their own, only with enabled: true (see
// Config.ServiceTLS). When on, cert_file and key_file are both required, must be readable and must
// form a key pair. Relative names are read from the configuration file's
// directory (Prepare makes them absolute). Prepare fills
// the unset fields of each written block. CipherSuites,
// SessionTicketsDisabled and MinVersion belong to the listener, so they
// must agree among the TLS services sharing a port.
type TLS struct {
	// Enabled turns TLS on or off explicitly (see Config.ServiceTLS).
	Enabled *bool `yaml:"enabled"`
	// CertFile and KeyFile are PEM files, re-read when they change.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CipherSuites are Terraster's numeric IDs or Go's names; unknown ones
	// are errors. Empty: Go's modern defaults.
	CipherSuites []CipherSuite `yaml:"cipher_suites"`
	// SessionTicketsDisabled turns off TLS session resumption by tickets.
	SessionTicketsDisabled bool `yaml:"session_tickets_disabled"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
	// UnknownSNI is what a handshake naming no configured host gets:
	// "default" (the port's default certificate, the default) or "reject".
	UnknownSNI string `yaml:"unknown_sni"`
	// ExpiryWarning logs certificates expiring within this. Default 336h (14 days).
	ExpiryWarning Duration `yaml:"expiry_warning"`

	NextProtos []string `yaml:"next_protos" spillway:"unimplemented"`
	HTTP2      *bool    `yaml:"http2" spillway:"unimplemented"`
	Domains    []string `yaml:"domains" spillway:"unimplemented"`
	CertDir    string   `yaml:"cert_dir" spillway:"unimplemented"`
	AutoCert   bool     `yaml:"auto_cert" spillway:"unimplemented"`
}

// CipherSuite is a TLS cipher suite given as a number (Terraster's form:
// 49199 or 0xc02f) or a Go name (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
// among crypto/tls.CipherSuites and InsecureCipherSuites.
type CipherSuite uint16

// String returns the suite's Go name.
func (c CipherSuite) String() string { return tls.CipherSuiteName(uint16(c)) }

// Timeouts are Spillway's own keys. Client read and write timeouts are idle
// timeouts: they cut a transfer that stalls, never one that is moving.
type Timeouts struct {
	// ClientHeader bounds reading a request head. Default 10s.
	ClientHeader Duration `yaml:"client_header"`
	// ClientRead is the longest pause while reading a request body. Default 60s.
	ClientRead Duration `yaml:"client_read"`
	// ClientWrite is the longest pause while writing a response. Default 60s.
	ClientWrite Duration `yaml:"client_write"`
	// ClientIdle closes keep-alive connections idle this long. Default 90s.
	ClientIdle Duration `yaml:"client_idle"`
	// BackendConnect bounds dialing a backend. Default 5s.
	BackendConnect Duration `yaml:"backend_connect"`
	// BackendResponse bounds the wait for a backend's response head, and
	// any pause while reading its body. Default 60s.
	BackendResponse Duration `yaml:"backend_response"`
	// TunnelIdle closes an upgraded connection (WebSocket) once nothing
	// has crossed it in either direction for this long. Default 1h.
	TunnelIdle Duration `yaml:"tunnel_idle"`
}

// Limits are Spillway's own keys; negative values are errors.
type Limits struct {
	// MaxHeaderBytes caps a request head. Default 16384; larger gets 431.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes caps a request body. Default 0: no cap (bodies stream).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Retry configures retries on another backend.
type Retry struct {
	// Attempts is how many times a failed request is retried on another
	// backend. Default 1; 0 disables.
	Attempts *int `yaml:"attempts"`
	// MaxBodyBytes is the largest request body held whole so it can be resent. Default 65536.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// IdempotentMethods are retried like GET even after their body was sent.
	IdempotentMethods []string `yaml:"idempotent_methods"`
}

// PassiveHealth configures ejection on observed failures.
type PassiveHealth struct {
	// FailureThreshold consecutive failures eject a backend. Default 5
	// (circuit_breaker's failure_threshold overrides it).
	FailureThreshold int `yaml:"failure_threshold"`
	// Backoff is the first ejection; it doubles up to MaxBackoff. Default
	// 10s (circuit_breaker's reset_timeout overrides it).
	Backoff Duration `yaml:"backoff"`
	// MaxBackoff caps the ejection. Default 5m, or Backoff when that is
	// longer; shorter than Backoff is an error.
	MaxBackoff Duration `yaml:"max_backoff"`
	// Count5xx counts 5xx answers as failures. Default false.
	Count5xx bool `yaml:"count_5xx"`
}

// Log configures logging.
type Log struct {
	// Format is "text" (default) or "json".
	Format string `yaml:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	// Both are matched case-insensitively and stored in lower case.
	Level string `yaml:"level"`
}

// AccessLog configures the access log (Spillway's own key).
type AccessLog struct {
	// Path is a file, appended to and created if missing, or "stdout" or
	// "stderr". Empty (the default): no access log.
	Path string `yaml:"path"`
	// Format is "combined" (default: nginx's combined layout with host,
	// backend and duration after it) or "json". Matched case-insensitively
	// and stored in lower case.
	Format string `yaml:"format"`
}

// Metrics configures the metrics endpoint (Spillway's own key).
type Metrics struct {
	// Listen is the host:port of a separate plain-HTTP listener that
	// answers GET /metrics in Prometheus' text format and GET /ready
	// (200 while serving, 503 once shutting down). Empty (the
	// default): no endpoint and no counting. Keep it off the internet
	// (127.0.0.1 or a private address): it names every backend.
	Listen string `yaml:"listen"`
}

// Duration is a time.Duration written in YAML as a string with a unit,
// such as "10s", "1m30s" or "500ms". A bare number is an error: its unit
// would be a guess.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Policies are the load-balancing policy names, in their canonical form.
// Either '-' or '_' is accepted in configuration, in any case; see
// CanonicalPolicy.
var Policies = []string{
	"round-robin", "weighted-round-robin",
	"least-connections", "weighted-least-connections", "bounded-least-connections",
	"least-response-time", "power-of-two", "ip-hash", "consistent-hash",
	"sticky-session", "adaptive",
}

// String formats d as time.Duration does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }
