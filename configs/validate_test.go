package configs

import "testing"

// TestValidationProblemsNameLineAndKey checks each validation rule on a
// small file, asserting the exact "file:line: key: msg" it produces and
// that it is the only problem.
func TestValidationProblemsNameLineAndKey(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown location policy lists the valid ones", `services:
  - name: a
    locations:
      - path: /
        lb_policy: fastest
        backends: [{url: "http://127.0.0.1:9000"}]
`, []string{`t.yaml:5: services[0].locations[0].lb_policy: unknown policy "fastest"; valid policies: round-robin, weighted-round-robin,`}},
		{"unknown global algorithm suggests the close one", `algorithm: least_connection
backends: [{url: "http://127.0.0.1:9000"}]
`, []string{`t.yaml:1: algorithm: unknown policy "least_connection"; did you mean "least-connections"?`}},
		{"bad hash_key", minimal + `hash_key: body
`, []string{`t.yaml:6: hash_key: "body": expected ip, path, header:NAME or cookie:NAME`}},
		{"hash_key header without a name", `services:
  - locations:
      - hash_key: "header:"
        backends: [{url: "http://127.0.0.1:9000"}]
`, []string{`t.yaml:3: services[0].locations[0].hash_key: "header:": expected ip, path, header:NAME or cookie:NAME`}},
		{"negative hash_bound", minimal + `hash_bound: -0.5
`, []string{`t.yaml:6: hash_bound: -0.5 is negative`}},
		{"sticky_base naming sticky-session", minimal + `sticky_base: sticky_session
`, []string{`t.yaml:6: sticky_base: sticky-session cannot be its own base policy`}},
		{"unknown location sticky_base", `services:
  - locations:
      - lb_policy: sticky-session
        sticky_base: random
        backends: [{url: "http://127.0.0.1:9000"}]
`, []string{`t.yaml:4: services[0].locations[0].sticky_base: unknown policy "random"`}},
		{"backend url without scheme", `backends:
  - url: /just/a/path
`, []string{`t.yaml:2: backends[0].url: "/just/a/path": expected an absolute http:// or https:// URL`}},
		{"backend url with another scheme", `backends:
  - url: ftp://127.0.0.1:21
`, []string{`t.yaml:2: backends[0].url: "ftp://127.0.0.1:21": expected an absolute http:// or https:// URL`}},
		{"backend url without host", `backends:
  - url: "http://"
`, []string{`t.yaml:2: backends[0].url: "http://" has no host`}},
		{"backend url with query", `backends:
  - url: http://127.0.0.1:9000/?a=1
`, []string{`t.yaml:2: backends[0].url: "http://127.0.0.1:9000/?a=1" has a query or fragment`}},
		{"backend url with fragment", `backends:
  - url: "http://127.0.0.1:9000/#top"
`, []string{`t.yaml:2: backends[0].url: "http://127.0.0.1:9000/#top" has a query or fragment`}},
		{"backend url missing", `backends:
  - weight: 2
`, []string{`t.yaml:2: backends[0].url: missing: a backend needs a url`}},
		{"negative weight and max_connections", `backends:
  - url: http://127.0.0.1:9000
    weight: -1
    max_connections: -2
`, []string{`t.yaml:3: backends[0].weight: -1 is negative`, `t.yaml:4: backends[0].max_connections: -2 is negative`}},
		{"service port out of range", `services:
  - name: a
    port: 70000
    locations: [{path: /, backends: [{url: "http://127.0.0.1:9000"}]}]
`, []string{`t.yaml:3: services[0].port: port 70000 is outside 1..65535`}},
		{"service port 0 written", `services:
  - name: a
    port: 0
    locations: [{path: /, backends: [{url: "http://127.0.0.1:9000"}]}]
`, []string{`t.yaml:3: services[0].port: port 0 (an ephemeral port) is only allowed at the top level`}},
		{"top-level port negative", `port: -1
backends: [{url: "http://127.0.0.1:9000"}]
`, []string{`t.yaml:1: port: port -1 is outside 0..65535`}},
		{"redirect_port out of range", `services:
  - name: a
    http_redirect: true
    redirect_port: 65536
`, []string{`t.yaml:4: services[0].redirect_port: port 65536 is outside 1..65535`}},
		{"location path, rewrite and redirect without slash", `services:
  - name: a
    locations:
      - path: api
        rewrite: v1/
        redirect: home
        backends: [{url: "http://127.0.0.1:9000"}]
`, []string{`t.yaml:4: services[0].locations[0].path: "api" must start with "/"`,
			`t.yaml:5: services[0].locations[0].rewrite: "v1/" must start with "/"`,
			`t.yaml:6: services[0].locations[0].redirect: "home" must start with "/"`}},
		{"two locations with one path", `services:
  - name: a
    locations:
      - path: /api/
        backends: [{url: "http://127.0.0.1:9000"}]
      - path: /api/
        backends: [{url: "http://127.0.0.1:9001"}]
`, []string{`t.yaml:6: services[0].locations[1].path: path "/api/" is already a location of this service: locations[0] (line 4)`}},
		{"service without locations", `services:
  - name: a
    port: 8081
`, []string{`t.yaml:2: services[0]: no locations: a service needs at least one location`}},
		{"location without backends", `services:
  - name: a
    locations:
      - path: /api/
`, []string{`t.yaml:4: services[0].locations[0].backends: no backends: a location needs backends unless it only redirects`}},
		{"two services with one port and host, case-insensitive", `services:
  - name: a
    host: Example.com
    locations: [{path: /, backends: [{url: "http://127.0.0.1:9000"}]}]
  - name: b
    host: example.COM
    locations: [{path: /, backends: [{url: "http://127.0.0.1:9001"}]}]
`, []string{`t.yaml:6: services[1].host: service "b" (line 5) has port 8080 and host "example.COM", as service "a" (line 2) has`}},
		{"two services with one name", minimal + `  - name: b
    port: 8081
    locations: [{path: /, backends: [{url: "http://127.0.0.1:9001"}]}]
  - name: a
    port: 8082
    locations: [{path: /, backends: [{url: "http://127.0.0.1:9002"}]}]
`, []string{`t.yaml:9: services[2].name: "a" is already the name of services[0] (line 2): each service needs its own name`}},
		{"top-level backends and a service without host on one port", minimal + `backends: [{url: "http://127.0.0.1:9001"}]
`, []string{`t.yaml:6: backends: the default service of the top-level backends (line 6) has port 8080 and no host, as service "a" (line 2) has`}},
		{"header rule with a bad name", minimal + `    headers:
      request_headers:
        Bad Header: x
`, []string{`t.yaml:8: services[0].headers.request_headers.Bad Header: "Bad Header" is not a valid header name`}},
		{"header rule value with a line break", minimal + `    headers:
      response_headers:
        X-Ok: "a\r\nSet-Cookie: x=1"
`, []string{`t.yaml:8: services[0].headers.response_headers.X-Ok: the value holds a control character`}},
		{"header removal with a bad name", minimal + `    headers:
      remove_response_headers: ["X:Y"]
`, []string{`t.yaml:7: services[0].headers.remove_response_headers[0]: "X:Y" is not a valid header name`}},
		{"trusted_proxies entries that are not CIDRs or IPs", minimal + `trusted_proxies:
  - 10.0.0.0/8
  - 10.0.0.0/33
  - 192.168.1.1
  - proxy.local
`, []string{`t.yaml:8: trusted_proxies[1]: "10.0.0.0/33" is not an IP address or a CIDR`,
			`t.yaml:10: trusted_proxies[3]: "proxy.local" is not an IP address or a CIDR`}},
		{"health check type, durations and thresholds", minimal + `health_check:
  type: udp
  interval: 0s
  timeout: -1s
  thresholds:
    healthy: -1
`, []string{`t.yaml:7: health_check.type: unknown health check type "udp": expected http or tcp`,
			`t.yaml:8: health_check.interval: 0s: expected a duration greater than 0`,
			`t.yaml:9: health_check.timeout: -1s: expected a duration greater than 0`,
			`t.yaml:11: health_check.thresholds.healthy: -1 is negative`}},
		{"backend health check path without slash", `backends:
  - url: http://127.0.0.1:9000
    health_check: {path: health}
`, []string{`t.yaml:3: backends[0].health_check.path: "health" must start with "/"`}},
		{"middleware entry with no kind", minimal + `middleware:
  - {}
`, []string{`t.yaml:7: middleware[0]: a middleware entry sets nothing`}},
		{"middleware entry with two kinds", minimal + `middleware:
  - compression: true
    security: {hsts: true}
`, []string{`t.yaml:7: middleware[0]: a middleware entry sets security and compression: write each kind as its own list entry`}},
		{"cors star with credentials", minimal + `middleware:
  - cors:
      allowed_origins: ["*"]
      allow_credentials: true
`, []string{`t.yaml:9: middleware[0].cors.allow_credentials: allowed_origins "*" cannot be combined with allow_credentials`}},
		{"rate limit without rate and with negative burst", minimal + `    middleware:
      - rate_limit:
          requests_per_second: 0
          burst: -1
`, []string{`t.yaml:8: services[0].middleware[0].rate_limit.requests_per_second: 0: expected a rate greater than 0`,
			`t.yaml:9: services[0].middleware[0].rate_limit.burst: -1 is negative`}},
		{"frame_options ALLOW-FROM, which middleware.New refuses", minimal + `middleware:
  - security:
      frame_options: ALLOW-FROM https://a.example
`, []string{`t.yaml:8: middleware[0].security.frame_options: "ALLOW-FROM https://a.example": expected DENY or SAMEORIGIN (for ALLOW-FROM`}},
		{"service frame_options unknown and hsts_max_age negative", minimal + `    middleware:
      - security: {frame_options: allow, hsts: true, hsts_max_age: -1}
`, []string{`t.yaml:7: services[0].middleware[0].security.hsts_max_age: -1 is negative`,
			`t.yaml:7: services[0].middleware[0].security.frame_options: "allow": expected DENY or SAMEORIGIN`}},
		{"cors allowed_origins written empty", minimal + `middleware:
  - cors:
      allowed_origins: []
      allowed_methods: [GET]
`, []string{`t.yaml:8: middleware[0].cors.allowed_origins: empty: list the origins that may read answers, or "*"`}},
		{"cors without allowed_origins", minimal + `middleware:
  - cors:
      max_age: -1
`, []string{`t.yaml:7: middleware[0].cors.allowed_origins: empty: list the origins that may read answers, or "*"`,
			`t.yaml:8: middleware[0].cors.max_age: -1 is negative`}},
		{"cors written without a value", minimal + `middleware:
  - cors:
`, []string{`t.yaml:7: middleware[0].cors.allowed_origins: empty: list the origins that may read answers, or "*"`}},
		{"rate limit infinite or not a number", minimal + `middleware:
  - rate_limit: {requests_per_second: inf}
  - rate_limit: {requests_per_second: nan}
`, []string{`t.yaml:7: middleware[0].rate_limit.requests_per_second: +Inf: expected a finite rate`,
			`t.yaml:8: middleware[1].rate_limit.requests_per_second: NaN: expected a rate greater than 0`}},
		{"log format and level unknown", minimal + `log:
  format: xml
  level: verbose
`, []string{`t.yaml:7: log.format: unknown log format "xml": expected text or json`,
			`t.yaml:8: log.level: unknown log level "verbose": expected debug, info, warn or error`}},
		{"access log format unknown, directory missing", minimal + `access_log:
  path: /no/such/dir/access.log
  format: apache
`, []string{`t.yaml:8: access_log.format: unknown access log format "apache": expected combined or json`,
			`t.yaml:7: access_log.path: directory /no/such/dir: no such file or directory`}},
		{"access log path a directory", minimal + `access_log:
  path: /tmp
`, []string{`t.yaml:7: access_log.path: /tmp is a directory`}},
		{"metrics listen without a port", minimal + `metrics:
  listen: 127.0.0.1
`, []string{`t.yaml:7: metrics.listen: "127.0.0.1": expected host:port, such as 127.0.0.1:9100`}},
		{"negative plugin timeout", minimal + `plugins:
  auth:
    timeout: -1s
`, []string{`t.yaml:8: plugins.auth.timeout: -1s is negative`}},
		{"negative limits", minimal + `limits:
  max_header_bytes: -1
  max_body_bytes: -1
`, []string{`t.yaml:7: limits.max_header_bytes: -1 is negative`, `t.yaml:8: limits.max_body_bytes: -1 is negative`}},
		{"negative timeouts and grace", minimal + `timeouts:
  backend_connect: -5s
shutdown_grace: -1s
upgrade_timeout: -2s
`, []string{`t.yaml:7: timeouts.backend_connect: -5s is negative`, `t.yaml:8: shutdown_grace: -1s is negative`,
			`t.yaml:9: upgrade_timeout: -2s is negative`}},
		{"max_backoff shorter than backoff", minimal + `passive_health:
  backoff: 1m
  max_backoff: 30s
`, []string{`t.yaml:8: passive_health.max_backoff: 30s is shorter than backoff (1m0s)`}},
		{"top-level host with a port", minimal + `host: "0.0.0.0:8080"
`, []string{`t.yaml:6: host: "0.0.0.0:8080": expected the address to listen on`}},
		{"service host with a port", `services:
  - name: a
    host: a.example.com:8080
    locations: [{path: /, backends: [{url: "http://127.0.0.1:9000"}]}]
`, []string{`t.yaml:3: services[0].host: "a.example.com:8080" is not a host name: write the name alone, without port or path`}},
		{"wildcard host with the star out of place", `services:
  - name: a
    host: "api.*.example.com"
    locations: [{path: /, backends: [{url: "http://127.0.0.1:9000"}]}]
  - name: b
    host: "*example.com"
    locations: [{path: /, backends: [{url: "http://127.0.0.1:9000"}]}]
`, []string{`t.yaml:3: services[0].host: "api.*.example.com": a wildcard host is "*." and a domain, such as *.example.com`,
			`t.yaml:6: services[1].host: "*example.com": a wildcard host is "*." and a domain`}},
		{"nothing to serve", `port: 8080
`, []string{`t.yaml: nothing to serve`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, errs := parseString(t, tc.src)
			wantProblems(t, errs, tc.want...)
		})
	}
}

// TestValidConfigsHaveNoProblems covers the exceptions to the rules above.
func TestValidConfigsHaveNoProblems(t *testing.T) {
	cases := []struct {
		name string
		src  string
	}{
		{"a location that only redirects needs no backends", `services:
  - name: a
    locations:
      - path: /
        redirect: /app/
      - path: /app/
        backends: [{url: "http://127.0.0.1:9000"}]
`},
		{"an http_redirect service needs no locations", minimal + `  - name: r
    port: 8081
    http_redirect: true
`},
		{"one port, two hosts", minimal + `  - name: b
    host: b.example.com
    locations: [{backends: [{url: "https://127.0.0.1:9443/b"}]}]
`},
		{"a wildcard host beside an exact one under it", minimal + `  - name: w
    host: "*.example.com"
    locations: [{backends: [{url: "http://127.0.0.1:9000"}]}]
  - name: e
    host: api.example.com
    locations: [{backends: [{url: "http://127.0.0.1:9001"}]}]
`},
		{"compression false is a middleware kind", minimal + `    middleware:
      - compression: false
`},
		{"hash keys of every form", `hash_key: "cookie:session"
services:
  - locations:
      - {path: /a/, hash_key: ip, backends: [{url: "http://127.0.0.1:9000"}]}
      - {path: /b/, hash_key: path, backends: [{url: "http://127.0.0.1:9000"}]}
      - {path: /c/, hash_key: "header:X-User", backends: [{url: "http://127.0.0.1:9000"}]}
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, warns, errs := parseString(t, tc.src)
			wantProblems(t, errs)
			wantProblems(t, warns)
		})
	}
}

// TestRedirectOutsideRootWarns checks that a redirect where it cannot
// apply is pointed out.
func TestRedirectOutsideRootWarns(t *testing.T) {
	_, warns, errs := parseString(t, minimal+`      - path: /old/
        redirect: /new/
`)
	wantProblems(t, errs)
	wantProblems(t, warns, `t.yaml:7: services[0].locations[1].redirect: has no effect: redirect answers a request for exactly "/" on location "/" only`)
}

// metrics.listen on every interface passes, with a warning naming it.
func TestMetricsOnEveryInterfaceWarns(t *testing.T) {
	cfg, warns, errs := parseString(t, minimal+`metrics:
  listen: ":9100"
`)
	wantProblems(t, errs)
	if cfg == nil {
		t.Fatal("no config")
	}
	wantProblems(t, warns, `t.yaml:7: metrics.listen: ":9100" listens on every interface; the metrics name every backend, so keep them off the internet`)
}
