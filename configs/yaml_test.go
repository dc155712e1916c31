package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestYAMLFormsDecodeAlike checks that the YAML forms people write for the
// same configuration decode to the same values.
func TestYAMLFormsDecodeAlike(t *testing.T) {
	forms := map[string]string{
		"indented lists": `services:
  - name: a
    locations:
      - path: /x/
        backends:
          - url: http://127.0.0.1:9000
            weight: 2
`,
		"indentless lists": `services:
- name: a
  locations:
  - path: /x/
    backends:
    - url: http://127.0.0.1:9000
      weight: 2
`,
		"flow collections": `services: [{name: a, locations: [{path: /x/, backends: [{url: "http://127.0.0.1:9000", weight: 2}]}]}]
`,
		"quotes, comments, document marker and CRLF": "%YAML 1.2\r\n---\r\n# a comment\r\nservices:   # trailing\r\n  - name: 'a'\r\n" +
			"    locations:\r\n      - \"path\": \"/x/\"\r\n        backends:\r\n\r\n          - url: 'http://127.0.0.1:9000' # c\r\n            weight: 2\r\n...\r\n",
		"empty dash item": `services:
  -
    name: a
    locations:
      -
        path: /x/
        backends:
          - {url: http://127.0.0.1:9000, weight: 2}
`,
	}
	var first *Config
	for name, src := range forms {
		t.Run(name, func(t *testing.T) {
			cfg, _, errs := parseString(t, src)
			wantProblems(t, errs)
			if cfg == nil {
				t.FailNow()
			}
			cfg.File, cfg.Positions = "", nil
			if first == nil {
				first = cfg
			} else if !reflect.DeepEqual(cfg.Services, first.Services) {
				t.Errorf("decoded differently:\n%+v\n%+v", cfg.Services, first.Services)
			}
		})
	}
}

// TestYAMLScalars checks quoting, escapes, comments inside quotes and
// values handed to plugins as plain Go values.
func TestYAMLScalars(t *testing.T) {
	cfg, _, errs := parseString(t, minimal+`    headers:
      response_headers:
        X-Hash: "a # not a comment"
        X-Quote: 'it''s'
        X-Plain: it's plain # comment
        X-Escape: "tab\there \u00e9"
        X-Colon: a:b
plugins:
  p:
    config: {n: 3, f: 1.5, b: true, s: "007", nothing: ~, list: [a, 2], nested: {k: v}}
`)
	wantProblems(t, errs)
	if cfg == nil {
		t.FailNow()
	}
	h := cfg.Services[0].Headers.ResponseHeaders
	want := map[string]string{"X-Hash": "a # not a comment", "X-Quote": "it's", "X-Plain": "it's plain",
		"X-Escape": "tab\there é", "X-Colon": "a:b"}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("headers = %q, want %q", h, want)
	}
	gotCfg := cfg.Plugins["p"].Config
	wantCfg := map[string]any{"n": 3, "f": 1.5, "b": true, "s": "007", "nothing": nil,
		"list": []any{"a", 2}, "nested": map[string]any{"k": "v"}}
	if !reflect.DeepEqual(gotCfg, wantCfg) {
		t.Errorf("plugin config = %#v, want %#v", gotCfg, wantCfg)
	}
}

// TestYAMLSyntaxErrorsNameTheLine checks that broken YAML is an error at
// the right line, never a silent guess. (go-yaml stops at the first
// syntax error, so each case has one.)
func TestYAMLSyntaxErrorsNameTheLine(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"tab indentation", "services:\n\t- name: a\n", "t.yaml:2: a tab where YAML allows only spaces"},
		{"unclosed quote", "host: \"abc\n", "t.yaml:1: could not find end character of double-quoted text"},
		{"unclosed flow list", "trusted_proxies: [a, b\n", "t.yaml:1: sequence end token ']' not found"},
		{"line without a key", "port: 80\njust words\n", "t.yaml:2: non-map value is specified"},
		{"alias without anchor", "port: *nowhere\n", "t.yaml:1: "},
		{"second document", "port: 80\n---\nport: 81\n", "t.yaml:3: a second YAML document"},
		{"list at the top", "- a\n- b\n", `t.yaml:1: expected a mapping of keys ("key: value" lines) at the top level, got a list`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, errs := parseString(t, tc.src)
			wantProblems(t, errs, tc.want)
		})
	}
}

// TestDuplicateKeysNameTheKeyPath: a key given twice in one mapping is an
// error at the second, naming its whole path and the first's line, at any
// depth and in free-form plugin settings too; the same key in two
// different mappings is not.
func TestDuplicateKeysNameTheKeyPath(t *testing.T) {
	_, _, errs := parseString(t, `port: 80
backends:
  - url: http://127.0.0.1:9001
    weight: 2
    weight: 3
  - url: http://127.0.0.1:9002
    weight: 3
plugins:
  guide:
    config: {limit: 1, limit: 2}
port: 81
`)
	wantProblems(t, errs,
		"t.yaml:5: backends[0].weight: given twice in one mapping; the first is at line 4",
		"t.yaml:10: plugins.guide.config.limit: given twice in one mapping; the first is at line 10",
		"t.yaml:11: port: given twice in one mapping; the first is at line 1")
}

// TestYAMLAnchorsBlockScalarsAndTags checks the YAML features beyond plain
// mappings that people use in configuration files.
func TestYAMLAnchorsBlockScalarsAndTags(t *testing.T) {
	cfg, _, errs := parseString(t, `defaults: &b {weight: 3, max_connections: 10}
backends:
  - <<: *b
    url: http://127.0.0.1:9000
  - <<: *b
    url: http://127.0.0.1:9001
    weight: 1
plugins:
  p:
    timeout: !!str 2s
    config:
      text: |
        line one
        line two
`)
	// "defaults" is not a key of the schema: anchors live on keys, so the
	// file must say where; this one is an error like any unknown key.
	wantProblems(t, errs, "t.yaml:1: defaults: unknown key")

	cfg, _, errs = parseString(t, `backends:
  - &first {url: http://127.0.0.1:9000, weight: 3, max_connections: 10}
  - <<: *first
    url: http://127.0.0.1:9001
plugins:
  p:
    timeout: !!str 2s
    config:
      text: |
        line one
        line two
`)
	wantProblems(t, errs)
	if cfg == nil {
		t.FailNow()
	}
	bs := cfg.Backends
	if len(bs) != 2 || bs[1].URL != "http://127.0.0.1:9001" || bs[1].Weight != 3 || bs[1].MaxConnections != 10 {
		t.Errorf("merged backend = %+v", bs)
	}
	p := cfg.Plugins["p"]
	if p.Timeout.D() != 2*time.Second || p.Config["text"] != "line one\nline two\n" {
		t.Errorf("plugin = %+v", p)
	}
}

// FuzzParse feeds arbitrary text to Parse: it must never panic, and every
// problem it reports must have a line within the text.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("*.yaml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a: [b, {c: d}]\n- e\n  f: 'g''h'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, warns, err := Parse("f.yaml", data)
		lines := strings.Count(string(data), "\n") + 1
		check := func(p Problem) {
			if p.Line < 0 || p.Line > lines {
				t.Errorf("line %d outside 0..%d: %s", p.Line, lines, p)
			}
		}
		for _, w := range warns {
			check(w)
		}
		if e, ok := err.(*Error); ok {
			for _, p := range e.Problems {
				check(p)
			}
		}
	})
}
