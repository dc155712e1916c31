package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
			"    locations:\r\n      - \"path\": \"/x/\"\r\n        backends:\r\n\r\n          - url: 'http://127.0.0.1:9000' # c\r\n            weight: 2\r\n...\r\nignored: after the end marker\r\n",
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

// TestYAMLSyntaxErrorsNameTheLine checks that what the reader does not
// accept is an error at the right line, never a silent guess.
func TestYAMLSyntaxErrorsNameTheLine(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"tab indentation", "services:\n\t- name: a\n", []string{"t.yaml:2: a tab in the indentation"}},
		{"block scalar", "port: 80\nplugins:\n  p:\n    config:\n      text: |\n        line\n", []string{"t.yaml:5: block scalars (| and >) are not supported"}},
		{"anchor", "port: &p 80\n", []string{"t.yaml:1: YAML anchors and aliases"}},
		{"tag", "port: !!int 80\n", []string{"t.yaml:1: YAML tags (!) are not supported"}},
		{"duplicate key", "port: 80\nhost: a\nport: 81\n", []string{`t.yaml:3: duplicate key "port" (first on line 1)`}},
		{"unclosed quote", "host: \"abc\n", []string{"t.yaml:1: quoted string not closed on this line"}},
		{"unclosed flow list", "trusted_proxies: [a, b\n", []string{`t.yaml:1: expected "," or "]" in a flow list`}},
		{"deeper line after a value", "port: 80\n  host: a\n", []string{`t.yaml:2: unexpected indentation: "port" already has a value on line 1`}},
		{"line without a key", "port: 80\njust words\n", []string{`t.yaml:2: expected "key: value", got "just words"`}},
		{"second document", "port: 80\n---\nport: 81\n", []string{"t.yaml:2: a second YAML document"}},
		{"list at the top", "- a\n- b\n", []string{`t.yaml:1: expected a mapping of keys ("key: value" lines) at the top level, got a list`}},
		{"two mistakes, two lines", "port: 80\n\thost: a\nalgorithm: &x y\n", []string{"t.yaml:2: a tab", "t.yaml:3: YAML anchors"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, errs := parseString(t, tc.src)
			wantProblems(t, errs, tc.want...)
		})
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
