package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestUnknownKeysAreErrorsWithSuggestion checks that a misspelled key is
// an error at its line, at any depth, with a suggestion when one is close.
func TestUnknownKeysAreErrorsWithSuggestion(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string
	}{
		{"top level typo", minimal + `algoritm: round-robin
`, `t.yaml:6: algoritm: unknown key; did you mean "algorithm"?`},
		{"location typo", `services:
  - name: a
    locations:
      - path: /
        lb_polcy: ip_hash
        backends: [{url: "http://127.0.0.1:9000"}]
`, `t.yaml:5: services[0].locations[0].lb_polcy: unknown key; did you mean "lb_policy"?`},
		{"camel case for snake case", `backends:
  - url: http://127.0.0.1:9000
    maxConnections: 3
`, `t.yaml:3: backends[0].maxConnections: unknown key; did you mean "max_connections"?`},
		{"deep in health_check thresholds", minimal + `health_check:
  thresholds:
    unhealty: 2
`, `t.yaml:8: health_check.thresholds.unhealty: unknown key; did you mean "unhealthy"?`},
		{"inside a flow mapping", minimal + `middleware: [{rate_limit: {requests_per_second: 5, brust: 10}}]
`, `t.yaml:6: middleware[0].rate_limit.brust: unknown key; did you mean "burst"?`},
		{"nothing close", minimal + `colour: blue
`, `t.yaml:6: colour: unknown key`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, errs := parseString(t, tc.src)
			wantProblems(t, errs, tc.want)
			if !strings.Contains(tc.want, "did you mean") && strings.Contains(errs[0].Msg, "did you mean") {
				t.Errorf("unexpected suggestion: %s", errs[0])
			}
		})
	}
}

// TestTerrasterOnlyKeysAreWarnings checks that Terraster keys Spillway
// does not implement load with a warning naming each, not an error.
func TestTerrasterOnlyKeysAreWarnings(t *testing.T) {
	src := `admin_port: 8081
admin_api: {rate_limit: {requests_per_second: 1}}
auth: {enabled: true, api_key: secret}
cert_manager: {check_interval: 24h}
http_port: 80
https_port: 443
rate_limit: {requests_per_second: 100, burst: 150}
cors: {allowed_origins: ["*"]}
security: {hsts: true}
circuit_breaker: {failure_threshold: 5}
tls: {enabled: false, domains: [a.example.com], cert_dir: /certs, auto_cert: true, next_protos: [h2], http2: true}
services:
  - name: a
    log_name: a
    log_options: {level: debug}
    locations:
      - backends:
          - url: http://127.0.0.1:9000
            http2: true
`
	cfg, warns, errs := parseString(t, src)
	wantProblems(t, errs)
	if cfg == nil {
		t.Fatal("no config")
	}
	wantProblems(t, warns,
		`t.yaml:1: admin_port: a Terraster key Spillway does not implement; ignored (Spillway has no admin API; metrics.listen serves Prometheus metrics)`,
		`t.yaml:2: admin_api: a Terraster key Spillway does not implement`,
		`t.yaml:3: auth: a Terraster key Spillway does not implement`,
		`t.yaml:4: cert_manager: a Terraster key Spillway does not implement; ignored (certificates come from tls.cert_file`,
		`t.yaml:5: http_port: a Terraster key`,
		`t.yaml:6: https_port: a Terraster key`,
		`t.yaml:7: rate_limit: a Terraster key Spillway does not implement; ignored (the supported form is a middleware list entry: middleware: [{rate_limit:`,
		`t.yaml:8: cors: a Terraster key Spillway does not implement; ignored (the supported form is a middleware list entry`,
		`t.yaml:9: security: a Terraster key Spillway does not implement; ignored (the supported form is a middleware list entry`,
		`t.yaml:10: circuit_breaker: a Terraster key Spillway does not implement; ignored (the supported form is a middleware list entry`,
		`t.yaml:11: tls.domains: a Terraster key`,
		`t.yaml:11: tls.cert_dir: a Terraster key`,
		`t.yaml:11: tls.auto_cert: a Terraster key`,
		`t.yaml:11: tls.next_protos: a Terraster key`,
		`t.yaml:11: tls.http2: a Terraster key`,
		`t.yaml:14: services[0].log_name: a Terraster key`,
		`t.yaml:15: services[0].log_options: a Terraster key`,
		`t.yaml:19: services[0].locations[0].backends[0].http2: a Terraster key`,
	)
	for _, w := range warns {
		if !w.Warning {
			t.Errorf("%s: Warning not set", w)
		}
	}
}

// TestDurations checks what a Duration accepts and what it refuses.
func TestDurations(t *testing.T) {
	const want = `expected a duration with a unit, such as "10s", "1m30s" or "500ms", got `
	cases := []struct {
		value string
		ok    time.Duration
		err   string
	}{
		{"10s", 10 * time.Second, ""},
		{"1m30s", 90 * time.Second, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{`"2h"`, 2 * time.Hour, ""},
		{"10", 0, want + "the bare number 10"},
		{"1.5", 0, want + "the bare number 1.5"},
		{"ten seconds", 0, want + `"ten seconds"`},
		{"[1s]", 0, want + "a list"},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			cfg, _, errs := parseString(t, minimal+"shutdown_grace: "+tc.value+"\n")
			if tc.err != "" {
				wantProblems(t, errs, "t.yaml:6: shutdown_grace: "+tc.err)
				return
			}
			wantProblems(t, errs)
			if got := cfg.ShutdownGrace.D(); got != tc.ok {
				t.Errorf("shutdown_grace = %v, want %v", got, tc.ok)
			}
		})
	}
}

// TestCipherSuites checks suites given by Terraster's numbers and Go's
// names, and that unknown ones are errors.
func TestCipherSuites(t *testing.T) {
	cases := []struct {
		value string
		want  uint16
		err   string
	}{
		{"49199", 0xc02f, ""},
		{"0xc02b", 0xc02b, ""},
		{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca8, ""},
		{"tls_ecdhe_rsa_with_aes_256_gcm_sha384", 0xc030, ""},
		{"TLS_RSA_WITH_RC4_128_SHA", 0x0005, ""}, // insecure, but Go knows it
		{"TLS_MADE_UP", 0, `t.yaml:8: tls.cipher_suites[0]: unknown cipher suite "TLS_MADE_UP": expected a Go name such as`},
		{"1", 0, `t.yaml:8: tls.cipher_suites[0]: unknown cipher suite "1"`},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			cfg, _, errs := parseString(t, minimal+"tls:\n  cipher_suites:\n    - "+tc.value+"\n")
			if tc.err != "" {
				wantProblems(t, errs, tc.err)
				return
			}
			wantProblems(t, errs)
			if got := cfg.TLS.CipherSuites; len(got) != 1 || uint16(got[0]) != tc.want {
				t.Errorf("cipher_suites = %v, want [%#x]", got, tc.want)
			}
		})
	}
}

// TestTypeMismatchesNameWhatIsExpected checks messages for values of the
// wrong shape.
func TestTypeMismatchesNameWhatIsExpected(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"word for a number", minimal + "port: eighty\n", `t.yaml:6: port: expected a whole number, got "eighty"`},
		{"scalar for a list", minimal + "trusted_proxies: 10.0.0.0/8\n", `t.yaml:6: trusted_proxies: expected a list, got "10.0.0.0/8"`},
		{"scalar for a block", minimal + "health_check: true\n", `t.yaml:6: health_check: expected a mapping of keys, got "true"`},
		{"word for a bool", minimal + "plugin_strict: maybe\n", `t.yaml:6: plugin_strict: expected true or false, got "maybe"`},
		{"list for a string", minimal + "plugin_directory: [a]\n", `t.yaml:6: plugin_directory: expected a single value, got a list`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, errs := parseString(t, tc.src)
			wantProblems(t, errs, tc.want)
		})
	}
}

// TestAllProblemsReportedAtOnce checks that a file with three mistakes of
// different kinds (unknown key, bad value, failed validation) lists all
// three, in line order.
func TestAllProblemsReportedAtOnce(t *testing.T) {
	_, _, errs := parseString(t, `port: 8080
algorithm: fastest
backends:
  - url: http://127.0.0.1:9000
    wieght: 2
  - url: 127.0.0.1:9001
`)
	wantProblems(t, errs,
		`t.yaml:2: algorithm: unknown policy "fastest"`,
		`t.yaml:5: backends[0].wieght: unknown key; did you mean "weight"?`,
		`t.yaml:6: backends[1].url: "127.0.0.1:9001" is not a URL`,
	)
	for i := 1; i < len(errs); i++ {
		if errs[i-1].Line > errs[i].Line {
			t.Errorf("problems out of line order: %v", errs)
		}
	}
	err := (&Error{Problems: errs}).Error()
	if n := strings.Count(err, "\n") + 1; n != 3 {
		t.Errorf("Error() has %d lines, want 3:\n%s", n, err)
	}
}

// TestShippedConfigsLoadClean loads every configs/*.yaml: none may have an
// error, and only the Terraster example may warn (about Terraster keys).
func TestShippedConfigsLoadClean(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("found %v (%v), want the four shipped files at least", files, err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			cfg, warns, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(cfg.Services) == 0 {
				t.Errorf("no services")
			}
			for _, w := range warns {
				if f != "terraster-basic.yaml" {
					t.Errorf("warning: %s", w)
				}
			}
		})
	}
}

// TestDemoIsTheShippedFile checks that the embedded demo is demo.yaml and
// has what `make run` promises.
func TestDemoIsTheShippedFile(t *testing.T) {
	onDisk, err := os.ReadFile("demo.yaml")
	if err != nil || string(onDisk) != string(Demo) {
		t.Fatalf("Demo differs from demo.yaml (%v)", err)
	}
	cfg, warns, err := Parse("demo.yaml (embedded)", Demo)
	if err != nil || len(warns) > 0 {
		t.Fatalf("Parse: %v %v", warns, err)
	}
	if len(cfg.Services) != 1 || cfg.Services[0].Port != 8080 || *cfg.PluginStrict || cfg.PluginDirectory != "./plugins" {
		t.Fatalf("demo service/port/plugins: %+v", cfg)
	}
	s := cfg.Services[0]
	if s.Headers == nil || len(s.Headers.ResponseHeaders) == 0 {
		t.Errorf("demo has no response header rule")
	}
	got := map[string]string{}
	for _, l := range s.Locations {
		var urls []string
		for _, b := range l.Backends {
			urls = append(urls, b.URL)
		}
		got[l.Path] = l.LBPolicy + " " + l.Rewrite + " " + strings.Join(urls, ",")
	}
	want := map[string]string{
		"/":     "round-robin  http://127.0.0.1:18081,http://127.0.0.1:18082",
		"/api/": "round-robin /v1/ http://127.0.0.1:18081,http://127.0.0.1:18082",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("demo locations = %v, want %v", got, want)
	}
}

// TestReferenceExampleUsesEveryKey checks that spillway.yaml, the README's
// configuration reference, writes every key of the schema (except the
// Terraster keys Spillway ignores), so a key added later must be
// documented there too.
func TestReferenceExampleUsesEveryKey(t *testing.T) {
	data, err := os.ReadFile("spillway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root, errs := parseYAML(data)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	used := map[string]bool{}
	markUsed(root, reflect.TypeFor[Config](), used)
	for _, key := range schemaKeys(reflect.TypeFor[Config](), map[reflect.Type]bool{}) {
		if !used[key] {
			t.Errorf("spillway.yaml does not use %s", key)
		}
	}
}

// markUsed records Type.key for every key of n, walking t alongside.
func markUsed(n *node, t reflect.Type, used map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		if t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct {
			for _, p := range n.pairs {
				markUsed(p.val, t.Elem(), used)
			}
			return
		}
		if t.Kind() == reflect.Slice {
			for _, item := range n.items {
				markUsed(item, t.Elem(), used)
			}
			return
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || n.kind != mapNode {
		return
	}
	fs := fieldsOf(t)
	for _, p := range n.pairs {
		used[t.Name()+"."+p.key] = true
		if f, ok := fs.byKey[p.key]; ok {
			markUsed(p.val, t.FieldByIndex(f.index).Type, used)
		}
	}
}

// schemaKeys lists Type.key for every implemented key reachable from t.
func schemaKeys(t reflect.Type, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || t == durationType {
		return nil
	}
	seen[t] = true
	var keys []string
	fs := fieldsOf(t)
	for _, k := range fs.keys {
		f := fs.byKey[k]
		if f.unimplemented {
			continue
		}
		keys = append(keys, t.Name()+"."+k)
		keys = append(keys, schemaKeys(t.FieldByIndex(f.index).Type, seen)...)
	}
	return keys
}
