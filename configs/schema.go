// Package configs defines Spillway's configuration: its schema, the loader
// that reads it from YAML with file:line positions, its defaults and its
// validation. It reads Terraster's keys so a Terraster configuration file
// works unchanged; keys Terraster has and Spillway does not implement yet are
// reported as warnings, and keys neither knows are errors.
//
// Everything here is the slow path: it runs at start-up and on -check, never
// per request.
package configs

import "time"

// Config is a whole configuration file.
//
// The top-level Port, Host, Backends and Algorithm form a default service
// (Terraster's single-service form); Services lists named virtual hosts.
// Both may be used together.
type Config struct {
	// Port is the listener of the default service. Zero with Backends set
	// means 8080. A Port without Backends opens no listener of its own.
	Port int `yaml:"port"`
	// Host is the address the default service's listener binds to
	// (empty: all interfaces).
	Host string `yaml:"host"`
	// Algorithm is the load-balancing policy of every location without its
	// own lb_policy. Default round-robin. See Policies.
	Algorithm string `yaml:"algorithm"`
	// HashKey and HashBound configure consistent-hash when Algorithm is
	// consistent-hash (see Location.HashKey).
	HashKey   string   `yaml:"hash_key"`
	HashBound *float64 `yaml:"hash_bound"`
	// StickyCookie names the cookie of sticky-session. Default "spillway_sticky".
	StickyCookie string `yaml:"sticky_cookie"`
	// Backends are the default service's backends, served on Port for any
	// Host under the path "/".
	Backends []Backend `yaml:"backends"`
	// Services are named virtual hosts, chosen by port and Host header.
	Services []Service `yaml:"services"`

	// PluginDirectory holds the .so plugins loaded at start. Default "./plugins".
	PluginDirectory string `yaml:"plugin_directory"`
	// PluginStrict refuses to start when a plugin file cannot be loaded.
	// Default true; false skips a bad file with a warning.
	PluginStrict *bool `yaml:"plugin_strict"`
	// Plugins holds per-plugin settings, keyed by the plugin's Name().
	Plugins map[string]PluginSettings `yaml:"plugins"`

	ConnectionPool Pool         `yaml:"connection_pool"`
	HealthCheck    *HealthCheck `yaml:"health_check"`
	Middleware     []Middleware `yaml:"middleware"`
	TLS            *TLS         `yaml:"tls"`

	// TrustedProxies lists the CIDRs whose X-Forwarded-* headers are
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
	Log           Log      `yaml:"log"`

	// File is the path the configuration was read from ("" when built in code).
	File string `yaml:"-"`
	// Positions maps a key path such as "services[0].locations[1].path" to
	// its line in File, for messages raised after loading.
	Positions map[string]int `yaml:"-"`
}

// Service is a virtual host: a listener port, a Host name and its locations.
type Service struct {
	Name string `yaml:"name"`
	// Host is matched case-insensitively against the request's Host header
	// with any port removed. Empty: the port's default service.
	Host string `yaml:"host"`
	// Port is the listener; several services may share one.
	Port int  `yaml:"port"`
	TLS  *TLS `yaml:"tls"`
	// HTTPRedirect answers every request with 301 to https://HOST[:RedirectPort]/path?query.
	HTTPRedirect bool `yaml:"http_redirect"`
	// RedirectPort is the HTTPS port of HTTPRedirect. Default 443 (omitted from the URL).
	RedirectPort int          `yaml:"redirect_port"`
	HealthCheck  *HealthCheck `yaml:"health_check"`
	Middleware   []Middleware `yaml:"middleware"`
	Locations    []Location   `yaml:"locations"`
	Headers      *Headers     `yaml:"headers"`
	// PluginDisabled runs no plugins for this service.
	PluginDisabled bool `yaml:"plugin_disabled"`

	// Terraster keys not implemented by Spillway: accepted with a warning.
	LogName    string         `yaml:"log_name" spillway:"unimplemented"`
	LogOptions map[string]any `yaml:"log_options" spillway:"unimplemented"`
}

// Location routes a path prefix of a service to a set of backends.
type Location struct {
	// Path is the prefix matched; the longest matching one wins. Default "/".
	Path string `yaml:"path"`
	// Rewrite replaces the matched prefix before forwarding.
	Rewrite string `yaml:"rewrite"`
	// Redirect answers a request for exactly "/" on location "/" with 301 to this path.
	Redirect string `yaml:"redirect"`
	// LBPolicy overrides Config.Algorithm for this location.
	LBPolicy string `yaml:"lb_policy"`
	// HashKey is what consistent-hash hashes: "ip", "header:NAME",
	// "cookie:NAME" or "path". Default "ip".
	HashKey string `yaml:"hash_key"`
	// HashBound is consistent-hash's load bound: no backend carries more than
	// (1+HashBound) times its fair share of the requests in flight. Default 0.25.
	HashBound *float64 `yaml:"hash_bound"`
	// StickyCookie overrides Config.StickyCookie for this location.
	StickyCookie string    `yaml:"sticky_cookie"`
	Backends     []Backend `yaml:"backends"`
}

// Backend is one upstream server.
type Backend struct {
	// URL is http://host:port[/path] or https://...; its path is prepended
	// to forwarded paths.
	URL string `yaml:"url"`
	// Weight is the backend's share for weighted policies. Default 1.
	Weight int `yaml:"weight"`
	// MaxConnections caps requests in flight to this backend (0: no cap).
	MaxConnections int          `yaml:"max_connections"`
	SkipTLSVerify  bool         `yaml:"skip_tls_verify"`
	HealthCheck    *HealthCheck `yaml:"health_check"`
	// SNI is the server name sent to an https backend (default: the URL's host).
	SNI string `yaml:"sni"`
	// CAFile verifies an https backend against this PEM bundle instead of the system roots.
	CAFile string `yaml:"ca_file"`

	HTTP2 *bool `yaml:"http2" spillway:"unimplemented"`
}

// Headers are per-service header rules, applied after hop-by-hop removal.
type Headers struct {
	RequestHeaders        map[string]string `yaml:"request_headers"`
	ResponseHeaders       map[string]string `yaml:"response_headers"`
	RemoveRequestHeaders  []string          `yaml:"remove_request_headers"`
	RemoveResponseHeaders []string          `yaml:"remove_response_headers"`
}

// PluginSettings are Spillway's per-plugin settings.
type PluginSettings struct {
	// Enabled defaults to true.
	Enabled *bool `yaml:"enabled"`
	// Timeout is the plugin's budget per call. Default 5s.
	Timeout Duration `yaml:"timeout"`
	// Config is passed as JSON to the plugin's Configure method.
	Config map[string]any `yaml:"config"`
}

// Pool configures backend connections.
type Pool struct {
	// MaxIdle caps idle keep-alive connections kept per backend. Default 512.
	MaxIdle int `yaml:"max_idle"`
	// MaxOpen caps connections per backend (0: no cap beyond max_connections).
	MaxOpen int `yaml:"max_open"`
	// IdleTimeout closes keep-alive connections idle this long. Default 90s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// QueueTimeout lets a request wait this long for a backend below its
	// max_connections before answering 503. Default 0: answer at once.
	QueueTimeout Duration `yaml:"queue_timeout"`
}

// HealthCheck is an active health check (Terraster's keys).
type HealthCheck struct {
	// Type is "http" (default) or "tcp".
	Type string `yaml:"type"`
	// Path is requested by http checks. Default "/health".
	Path          string     `yaml:"path"`
	Interval      Duration   `yaml:"interval"`
	Timeout       Duration   `yaml:"timeout"`
	Thresholds    Thresholds `yaml:"thresholds"`
	SkipTLSVerify bool       `yaml:"skip_tls_verify"`
}

// Thresholds are consecutive results needed to change a backend's state.
type Thresholds struct {
	Healthy   int `yaml:"healthy"`
	Unhealthy int `yaml:"unhealthy"`
}

// Middleware is one entry of a middleware list; exactly one field is set.
// A service's entry replaces the global entry of the same kind.
type Middleware struct {
	RateLimit      *RateLimit      `yaml:"rate_limit"`
	CircuitBreaker *CircuitBreaker `yaml:"circuit_breaker"`
	Security       *Security       `yaml:"security"`
	CORS           *CORS           `yaml:"cors"`
	Compression    bool            `yaml:"compression"`
}

// RateLimit is a token bucket per client address.
type RateLimit struct {
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"`
}

// CircuitBreaker sets passive ejection: FailureThreshold consecutive
// failures eject a backend for ResetTimeout (growing while it keeps failing).
type CircuitBreaker struct {
	FailureThreshold int      `yaml:"failure_threshold"`
	ResetTimeout     Duration `yaml:"reset_timeout"`
}

// Security adds security response headers.
type Security struct {
	HSTS                  bool   `yaml:"hsts"`
	HSTSMaxAge            int    `yaml:"hsts_max_age"`
	HSTSIncludeSubDomains bool   `yaml:"hsts_include_subdomains"`
	HSTSPreload           bool   `yaml:"hsts_preload"`
	FrameOptions          string `yaml:"frame_options"`
	ContentTypeOptions    bool   `yaml:"content_type_options"`
	XSSProtection         bool   `yaml:"xss_protection"`
}

// CORS answers preflight requests and decorates responses.
type CORS struct {
	AllowedOrigins   []string `yaml:"allowed_origins"`
	AllowedMethods   []string `yaml:"allowed_methods"`
	AllowedHeaders   []string `yaml:"allowed_headers"`
	ExposedHeaders   []string `yaml:"exposed_headers"`
	AllowCredentials bool     `yaml:"allow_credentials"`
	MaxAge           int      `yaml:"max_age"`
}

// TLS is Terraster's TLS block, globally or per service.
type TLS struct {
	Enabled  *bool  `yaml:"enabled"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CipherSuites are Terraster's numeric IDs or Go's names.
	CipherSuites           []CipherSuite `yaml:"cipher_suites"`
	SessionTicketsDisabled bool          `yaml:"session_tickets_disabled"`
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

// CipherSuite is a TLS cipher suite given as a number or a Go name.
type CipherSuite uint16

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
}

// Limits are Spillway's own keys.
type Limits struct {
	// MaxHeaderBytes caps a request head. Default 16384; larger gets 431.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes caps a request body. Default 0: no cap (bodies stream).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Retry configures retries on another backend.
type Retry struct {
	// Attempts is how many times a failed request is retried. Default 1; 0 disables.
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
	// Backoff is the first ejection; it doubles up to MaxBackoff. Default 10s.
	Backoff    Duration `yaml:"backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
	// Count5xx counts 5xx answers as failures. Default false.
	Count5xx bool `yaml:"count_5xx"`
}

// Log configures logging.
type Log struct {
	// Format is "text" (default) or "json".
	Format string `yaml:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `yaml:"level"`
}

// Duration is a time.Duration written in YAML as a string such as "10s".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Policies are the load-balancing policy names, in their canonical form.
// Either '-' or '_' is accepted in configuration.
var Policies = []string{
	"round-robin", "weighted-round-robin",
	"least-connections", "weighted-least-connections", "bounded-least-connections",
	"least-response-time", "power-of-two", "ip-hash", "consistent-hash",
	"sticky-session", "adaptive",
}
