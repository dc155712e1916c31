package configs

import (
	"errors"
	"strings"
	"testing"
)

// parseString parses src as the file "t.yaml" and splits the outcome into
// the config, its warnings and its errors, failing the test when the error
// is not an *Error.
func parseString(t *testing.T, src string) (*Config, []Problem, []Problem) {
	t.Helper()
	cfg, warns, err := Parse("t.yaml", []byte(src))
	if err == nil {
		return cfg, warns, nil
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse returned %T %v, want *Error", err, err)
	}
	if cfg != nil {
		t.Errorf("Parse returned a config together with an error")
	}
	return cfg, warns, ce.Problems
}

// wantProblems checks that got has exactly len(want) problems and that
// each want is the beginning of one of them ("t.yaml:LINE: key: msg...").
func wantProblems(t *testing.T, got []Problem, want ...string) {
	t.Helper()
	var lines []string
	for _, p := range got {
		lines = append(lines, p.String())
	}
	all := strings.Join(lines, "\n")
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), all)
	}
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no problem starts with\n\t%s\ngot:\n%s", w, all)
		}
	}
}

// minimal is a valid configuration; cases append to it or change it.
const minimal = `services:
  - name: a
    locations:
      - path: /
        backends: [{url: "http://127.0.0.1:9000"}]
`
