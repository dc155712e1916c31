package configs

import (
	"reflect"
	"testing"
	"time"
)

// TestDefaultsApplied checks every documented default on a minimal file.
func TestDefaultsApplied(t *testing.T) {
	cfg, _, errs := parseString(t, minimal+`    tls: {enabled: false}
health_check: {}
plugins:
  p: {}
`)
	wantProblems(t, errs)
	if cfg == nil {
		t.FailNow()
	}
	s := cfg.Services[0]
	l := s.Locations[0]
	b := l.Backends[0]
	sec := time.Second
	checks := []struct {
		name      string
		got, want any
	}{
		{"port", cfg.Port, 8080},
		{"service port", s.Port, 8080},
		{"redirect_port", s.RedirectPort, 443},
		{"algorithm", cfg.Algorithm, "round-robin"},
		{"lb_policy", l.LBPolicy, "round-robin"},
		{"hash_key", l.HashKey, "ip"},
		{"hash_bound", *l.HashBound, 0.25},
		{"sticky_cookie", l.StickyCookie, "spillway_sticky"},
		{"sticky_base", l.StickyBase, "round-robin"},
		{"weight", b.Weight, 1},
		{"plugin_directory", cfg.PluginDirectory, "./plugins"},
		{"plugin_strict", *cfg.PluginStrict, true},
		{"plugin enabled", *cfg.Plugins["p"].Enabled, true},
		{"plugin timeout", cfg.Plugins["p"].Timeout.D(), 5 * sec},
		{"max_idle", cfg.ConnectionPool.MaxIdle, 512},
		{"idle_timeout", cfg.ConnectionPool.IdleTimeout.D(), 90 * sec},
		{"queue_timeout", cfg.ConnectionPool.QueueTimeout.D(), time.Duration(0)},
		{"health type", cfg.HealthCheck.Type, "http"},
		{"health path", cfg.HealthCheck.Path, "/health"},
		{"health interval", cfg.HealthCheck.Interval.D(), 10 * sec},
		{"health timeout", cfg.HealthCheck.Timeout.D(), 2 * sec},
		{"healthy", cfg.HealthCheck.Thresholds.Healthy, 2},
		{"unhealthy", cfg.HealthCheck.Thresholds.Unhealthy, 3},
		{"retry attempts", *cfg.Retry.Attempts, 1},
		{"retry body", cfg.Retry.MaxBodyBytes, 65536},
		{"failure_threshold", cfg.PassiveHealth.FailureThreshold, 5},
		{"backoff", cfg.PassiveHealth.Backoff.D(), 10 * sec},
		{"max_backoff", cfg.PassiveHealth.MaxBackoff.D(), 5 * time.Minute},
		{"client_header", cfg.Timeouts.ClientHeader.D(), 10 * sec},
		{"client_read", cfg.Timeouts.ClientRead.D(), 60 * sec},
		{"client_write", cfg.Timeouts.ClientWrite.D(), 60 * sec},
		{"client_idle", cfg.Timeouts.ClientIdle.D(), 90 * sec},
		{"backend_connect", cfg.Timeouts.BackendConnect.D(), 5 * sec},
		{"backend_response", cfg.Timeouts.BackendResponse.D(), 60 * sec},
		{"max_header_bytes", cfg.Limits.MaxHeaderBytes, 16384},
		{"max_body_bytes", cfg.Limits.MaxBodyBytes, int64(0)},
		{"shutdown_grace", cfg.ShutdownGrace.D(), 30 * sec},
		{"upgrade_timeout", cfg.UpgradeTimeout.D(), 60 * sec},
		{"log format", cfg.Log.Format, "text"},
		{"log level", cfg.Log.Level, "info"},
		{"tls min_version", s.TLS.MinVersion, "1.2"},
		{"tls unknown_sni", s.TLS.UnknownSNI, "default"},
		{"tls expiry_warning", s.TLS.ExpiryWarning.D(), 336 * time.Hour},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.HealthCheck != nil || b.HealthCheck != nil {
		t.Errorf("health_check blocks appeared where none was written")
	}
}

// TestActiveHealthCheckOnlyWhereWritten checks that an unwritten
// health_check stays nil (no active checks) and a partial one is filled.
func TestActiveHealthCheckOnlyWhereWritten(t *testing.T) {
	cfg, _, errs := parseString(t, `backends:
  - url: http://127.0.0.1:9000
    health_check: {type: TCP, interval: 3s}
  - url: http://127.0.0.1:9001
`)
	wantProblems(t, errs)
	if cfg.HealthCheck != nil {
		t.Errorf("global health_check = %+v, want nil", cfg.HealthCheck)
	}
	got := cfg.Services[0].Locations[0].Backends
	want := HealthCheck{Type: "tcp", Path: "/health", Interval: Duration(3 * time.Second),
		Timeout: Duration(2 * time.Second), Thresholds: Thresholds{Healthy: 2, Unhealthy: 3}}
	if got[0].HealthCheck == nil || *got[0].HealthCheck != want {
		t.Errorf("backend 0 health_check = %+v, want %+v", got[0].HealthCheck, want)
	}
	if got[1].HealthCheck != nil {
		t.Errorf("backend 1 health_check = %+v, want nil", got[1].HealthCheck)
	}
}

// TestTopLevelBackendsBecomeTheDefaultService checks the normalization of
// Terraster's single-service form.
func TestTopLevelBackendsBecomeTheDefaultService(t *testing.T) {
	cfg, _, errs := parseString(t, `port: 9090
algorithm: Consistent_Hash
hash_key: "Header:X-User"
hash_bound: 0.5
sticky_cookie: sid
sticky_base: Least_Connections
backends:
  - url: http://127.0.0.1:9000
    weight: 3
services:
  - name: api
    host: api.example.com
    locations:
      - path: /
        backends: [{url: "http://127.0.0.1:9100"}]
`)
	wantProblems(t, errs)
	if len(cfg.Services) != 2 {
		t.Fatalf("%d services, want the written one and the default", len(cfg.Services))
	}
	if s := cfg.Services[0]; s.Name != "api" || s.Port != 9090 {
		t.Errorf("written service moved or lost its port: %+v", s)
	}
	d := cfg.Services[1]
	if d.Name != "default" || d.Host != "" || d.Port != 9090 || len(d.Locations) != 1 {
		t.Fatalf("default service = %+v", d)
	}
	l := d.Locations[0]
	if l.Path != "/" || l.LBPolicy != "consistent-hash" || l.HashKey != "header:X-User" ||
		*l.HashBound != 0.5 || l.StickyCookie != "sid" || l.StickyBase != "least-connections" {
		t.Errorf("default location = %+v (bound %v)", l, *l.HashBound)
	}
	if len(l.Backends) != 1 || l.Backends[0].URL != "http://127.0.0.1:9000" || l.Backends[0].Weight != 3 {
		t.Errorf("default backends = %+v", l.Backends)
	}
}

// TestPolicyCanonicalization checks the effective, canonical policy of
// each location.
func TestPolicyCanonicalization(t *testing.T) {
	cases := []struct {
		algorithm, own, want string
	}{
		{"", "", "round-robin"},
		{"Least_Connections", "", "least-connections"},
		{"ip-hash", "POWER_OF_TWO", "power-of-two"},
		{"", "weighted_round_robin", "weighted-round-robin"},
		{"adaptive", "sticky-session", "sticky-session"},
	}
	for _, tc := range cases {
		t.Run(tc.algorithm+"/"+tc.own, func(t *testing.T) {
			c := &Config{Algorithm: tc.algorithm, Services: []Service{{Locations: []Location{{
				LBPolicy: tc.own, Backends: []Backend{{URL: "http://127.0.0.1:9000"}}}}}}}
			if err := c.Prepare(); err != nil {
				t.Fatal(err)
			}
			if got := c.Services[0].Locations[0].LBPolicy; got != tc.want {
				t.Errorf("LBPolicy = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCanonicalPolicy checks the exported helper.
func TestCanonicalPolicy(t *testing.T) {
	for _, p := range Policies {
		if got, ok := CanonicalPolicy(p); !ok || got != p {
			t.Errorf("CanonicalPolicy(%q) = %q, %v", p, got, ok)
		}
	}
	for in, want := range map[string]string{"IP_Hash": "ip-hash", " least_connections ": "least-connections"} {
		if got, ok := CanonicalPolicy(in); !ok || got != want {
			t.Errorf("CanonicalPolicy(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "random", "least-conn"} {
		if _, ok := CanonicalPolicy(bad); ok {
			t.Errorf("CanonicalPolicy(%q) accepted", bad)
		}
	}
}

// TestPrepareIsIdempotent checks that preparing a prepared config changes
// nothing (the default service is not added twice, policies stay).
func TestPrepareIsIdempotent(t *testing.T) {
	for _, f := range []string{"spillway.yaml", "terraster-basic.yaml", "terraster-services.yaml", "demo.yaml"} {
		t.Run(f, func(t *testing.T) {
			once, _, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			twice, _, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := twice.Prepare(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(once, twice) {
				t.Errorf("second Prepare changed the config:\nonce  %+v\ntwice %+v", once.Services, twice.Services)
			}
		})
	}
}

// TestPrepareInCode checks a Config built in code, as tests and
// benchmarks build one: port 0 stays 0 (an ephemeral port) and problems
// name keys without file or line.
func TestPrepareInCode(t *testing.T) {
	c := &Config{Backends: []Backend{{URL: "http://127.0.0.1:9000"}}}
	if err := c.Prepare(); err != nil {
		t.Fatal(err)
	}
	if len(c.Services) != 1 || c.Services[0].Port != 0 {
		t.Errorf("services = %+v, want one on port 0", c.Services)
	}
	bad := &Config{Backends: []Backend{{URL: "ftp://x"}}, Algorithm: "nope"}
	err := bad.Prepare()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("Prepare = %v, want *Error", err)
	}
	wantProblems(t, e.Problems, `algorithm: unknown policy "nope"`, `backends[0].url: "ftp://x": expected an absolute`)
}

// TestCircuitBreakerOverridesPassiveHealth checks that the global
// circuit_breaker entry sets the passive health it is Terraster's name for.
func TestCircuitBreakerOverridesPassiveHealth(t *testing.T) {
	cfg, _, errs := parseString(t, minimal+`passive_health: {failure_threshold: 9, backoff: 20s}
middleware:
  - circuit_breaker: {failure_threshold: 3, reset_timeout: 10m}
`)
	wantProblems(t, errs)
	ph := cfg.PassiveHealth
	if ph.FailureThreshold != 3 || ph.Backoff.D() != 10*time.Minute || ph.MaxBackoff.D() != 10*time.Minute {
		t.Errorf("passive_health = %+v, want threshold 3, backoff 10m, max_backoff 10m", ph)
	}
}
