package configs

import (
	_ "embed"
	"os"
	"reflect"
)

// Demo is the embedded demo configuration (configs/demo.yaml) that
// `spillway -demo` and `make run` serve: the proxy on :8080 in front of two
// demo origins on 127.0.0.1:18081 and 127.0.0.1:18082, which the binary
// starts itself. Read it with Parse.
//
//go:embed demo.yaml
var Demo []byte

// Load reads the configuration file at path, decodes it and Prepares it.
//
// Warnings (Terraster keys Spillway ignores, and the like) are returned
// whether or not the file is usable. When anything is wrong, err is an
// *Error listing every problem with its file and line, and cfg is nil; a
// file that cannot be read gives the os error instead.
func Load(path string) (cfg *Config, warnings []Problem, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return Parse(path, data)
}

// Parse is Load from bytes; file names the source in messages and becomes
// Config.File (it need not exist on disk).
func Parse(file string, data []byte) (cfg *Config, warnings []Problem, err error) {
	ps := &problems{file: file, pos: map[string]int{}}
	root, syntax := parseYAML(data)
	for _, e := range syntax {
		ps.errorAt(e.line, "", e.msg)
	}
	// An absent top-level port means 8080; a written 0 stays 0 (an
	// ephemeral port, which tests use). Pre-filling before decoding is what
	// tells the two apart.
	cfg = &Config{Port: defaultPort, File: file, Positions: ps.pos}
	switch root := orNull(root); root.kind {
	case mapNode:
		(&decoder{ps: ps}).decode(root, reflect.ValueOf(cfg).Elem(), "")
	case nullNode:
	default:
		ps.errorAt(root.line, "", "expected a mapping of keys (\"key: value\" lines) at the top level, got "+root.describe())
	}
	// Checking a half-read tree would pile guesses on the syntax errors, so
	// only a readable file goes on to Prepare; type errors and unknown keys
	// do, so that one run lists every mistake.
	if len(syntax) == 0 {
		cfg.prepare(ps)
	}
	sortProblems(ps.warns)
	if err := ps.err(); err != nil {
		return nil, ps.warns, err
	}
	return cfg, ps.warns, nil
}

// orNull stands a null node in for a tree that could not be read.
func orNull(n *node) *node {
	if n == nil {
		return &node{kind: nullNode}
	}
	return n
}
