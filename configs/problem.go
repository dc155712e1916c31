package configs

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong (or, with Warning set, merely worth saying)
// about a configuration, located by file, line and key path.
type Problem struct {
	// File is the configuration's path; empty for a Config built in code.
	File string
	// Line is 1-based; 0 when the problem has no line (a key that was not
	// written, or a Config built in code).
	Line int
	// Key is the key path, such as "services[0].locations[1].lb_policy";
	// empty for problems of the file as a whole (YAML syntax).
	Key string
	// Msg says what is wrong and, where it helps, what is expected.
	Msg string
	// Warning marks a problem that does not stop Spillway from starting,
	// such as a Terraster key Spillway ignores.
	Warning bool
}

// String formats p as "file:line: key: msg", the form editors jump to and
// `spillway -check` prints. Parts that are unknown are left out: "file: key:
// msg" without a line, "line N: key: msg" without a file, "key: msg" with
// neither.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		b.WriteString(p.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(": ")
	case p.File != "":
		b.WriteString(p.File)
		b.WriteString(": ")
	case p.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is every problem that makes a configuration unusable. Load, Parse
// and Prepare return it (as error) so that one run reports all mistakes, not
// only the first.
type Error struct {
	// Problems are in file order (by line, then as found).
	Problems []Problem
}

// Error returns the problems one per line, each as Problem.String.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects errors and warnings while loading and preparing.
type problems struct {
	file  string
	pos   map[string]int
	errs  []Problem
	warns []Problem
	// bad holds the keys whose value could not be decoded; checks made
	// after decoding skip them, so one mistake gives one message.
	bad map[string]bool
}

// errorf records an error at key, on the line of key or, when key was not
// written, of its nearest written parent.
func (ps *problems) errorf(key, format string, args ...any) {
	if ps.bad[key] {
		return
	}
	ps.errs = append(ps.errs, Problem{File: ps.file, Line: ps.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// errorAt records an error at an explicit line; the decoder uses it, so
// key is marked bad.
func (ps *problems) errorAt(line int, key, msg string) {
	if ps.bad == nil {
		ps.bad = map[string]bool{}
	}
	ps.bad[key] = true
	ps.errs = append(ps.errs, Problem{File: ps.file, Line: line, Key: key, Msg: msg})
}

// warnAt records a warning at an explicit line.
func (ps *problems) warnAt(line int, key, msg string) {
	ps.warns = append(ps.warns, Problem{File: ps.file, Line: line, Key: key, Msg: msg, Warning: true})
}

// has reports whether key was written in the file.
func (ps *problems) has(key string) bool {
	_, ok := ps.pos[key]
	return ok
}

// lineOf is the line of key or of its nearest written parent
// ("services[0].tls.cert_file" → "services[0].tls" → "services[0]"), or 0.
func (ps *problems) lineOf(key string) int {
	for key != "" {
		if l, ok := ps.pos[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

// err returns the collected errors as an *Error in file order, or nil.
func (ps *problems) err() error {
	if len(ps.errs) == 0 {
		return nil
	}
	sortProblems(ps.errs)
	return &Error{Problems: ps.errs}
}

// sortProblems orders problems by line, keeping the order found for equal
// lines; problems without a line come last.
func sortProblems(list []Problem) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].Line, list[j].Line
		if a == 0 || b == 0 {
			return a != 0 && b == 0
		}
		return a < b
	})
}
