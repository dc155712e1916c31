package configs

import (
	"fmt"
	"strconv"
	"strings"
)

// This file is a reader for the part of YAML that configuration files use:
// block mappings and lists (indented or not), plain, single- and
// double-quoted scalars, one-line flow lists and mappings ([a, b], {k: v}),
// comments, and a leading "---". It keeps the line of every key and item,
// which the messages need. Anchors, aliases, tags, block scalars (| and >)
// and multi-line flow collections are reported as errors naming the line
// rather than read approximately.
//
// It exists because go.mod does not list github.com/goccy/go-yaml and this
// package may not add modules; the node tree below is all the decoder needs,
// so swapping in another parser only means producing the same tree.

// nodeKind is what a node holds.
type nodeKind uint8

const (
	nullNode   nodeKind = iota // nothing, "~" or "null"
	scalarNode                 // text
	mapNode                    // pairs
	seqNode                    // items
)

// node is a YAML value with the line it starts on.
type node struct {
	kind   nodeKind
	line   int
	text   string // scalarNode: the value, quotes removed
	quoted bool   // scalarNode: written in quotes (so never a number)
	pairs  []pair
	items  []*node
}

// pair is one "key: value" of a mapping.
type pair struct {
	key  string
	line int
	val  *node
}

// describe names a node's kind for messages such as "expected a list, got
// a mapping".
func (n *node) describe() string {
	switch n.kind {
	case mapNode:
		return "a mapping"
	case seqNode:
		return "a list"
	case nullNode:
		return "nothing"
	}
	return strconv.Quote(n.text)
}

// syntaxError is a YAML problem at a line.
type syntaxError struct {
	line int
	msg  string
}

// srcLine is one line holding content: comments and trailing blanks
// removed, indent counted in spaces.
type srcLine struct {
	num    int
	indent int
	text   string
}

// yamlParser turns srcLines into a node tree, collecting every syntax
// error instead of stopping at the first.
type yamlParser struct {
	lines []srcLine
	pos   int
	errs  []syntaxError
}

// parseYAML reads data into a node tree. The root is a nullNode for an
// empty document.
func parseYAML(data []byte) (*node, []syntaxError) {
	p := &yamlParser{}
	p.split(string(data))
	if len(p.lines) == 0 {
		return &node{kind: nullNode, line: 1}, p.errs
	}
	first := p.lines[0]
	root := p.block(first.indent)
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		p.errorf(l.num, "unexpected content at indentation %d: the document's top level ended on an earlier line", l.indent)
		p.pos++
	}
	return root, p.errs
}

func (p *yamlParser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, syntaxError{line: line, msg: fmt.Sprintf(format, args...)})
}

// split fills p.lines from the document text.
func (p *yamlParser) split(doc string) {
	doc = strings.TrimPrefix(doc, "\ufeff")
	started := false
	for i, raw := range strings.Split(doc, "\n") {
		num := i + 1
		raw = strings.TrimRight(raw, "\r")
		text := strings.TrimLeft(raw, " ")
		indent := len(raw) - len(text)
		if strings.HasPrefix(text, "\t") && strings.TrimSpace(stripComment(text)) != "" {
			p.errorf(num, "a tab in the indentation: YAML indents with spaces only")
			text = strings.TrimLeft(text, " \t")
		}
		text = strings.TrimRight(stripComment(text), " \t")
		if text == "" {
			continue
		}
		if indent == 0 {
			switch {
			case text == "---" || strings.HasPrefix(text, "--- "):
				if started {
					p.errorf(num, "a second YAML document: a configuration file holds one")
					return
				}
				if rest := strings.TrimSpace(text[3:]); rest != "" {
					p.errorf(num, "content after \"---\": start the document on the next line")
				}
				continue
			case text == "...":
				return
			case strings.HasPrefix(text, "%"):
				if !started {
					continue // a directive such as %YAML 1.2
				}
			}
		}
		started = true
		p.lines = append(p.lines, srcLine{num: num, indent: indent, text: text})
	}
}

// stripComment removes a "#" comment: one that starts the text or follows
// a blank, outside quotes. A quote opens a quoted scalar only where a
// scalar can start, so an apostrophe inside a plain word is just a letter.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"':
			if c == '\\' {
				i++
			} else if c == '"' {
				quote = 0
			}
		case quote == '\'':
			if c == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					i++
				} else {
					quote = 0
				}
			}
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		case (c == '"' || c == '\'') && (i == 0 || strings.IndexByte(" \t[{,:-", s[i-1]) >= 0):
			quote = c
		}
	}
	return s
}

// isItem reports whether text is a block list item ("- x" or "-").
func isItem(text string) bool {
	return text == "-" || strings.HasPrefix(text, "- ")
}

// splitKey splits "key: rest". ok is false when text is not a mapping
// entry (a scalar, a list item or a flow collection).
func splitKey(text string) (key, rest string, ok bool, err string) {
	if text == "" || isItem(text) || text[0] == '[' || text[0] == '{' {
		return "", "", false, ""
	}
	if text[0] == '"' || text[0] == '\'' {
		k, n, e := quoted(text)
		if e != "" {
			return "", "", false, e
		}
		after := strings.TrimLeft(text[n:], " ")
		if !strings.HasPrefix(after, ":") || (len(after) > 1 && after[1] != ' ') {
			return "", "", false, ""
		}
		return k, strings.TrimSpace(after[1:]), true, ""
	}
	for i := 0; i < len(text); i++ {
		if text[i] == ':' && (i+1 == len(text) || text[i+1] == ' ') {
			return strings.TrimRight(text[:i], " "), strings.TrimSpace(text[i+1:]), true, ""
		}
	}
	return "", "", false, ""
}

// block parses the value whose first line is p.lines[p.pos], at indent.
func (p *yamlParser) block(indent int) *node {
	l := p.lines[p.pos]
	if isItem(l.text) {
		return p.seq(indent)
	}
	_, _, ok, e := splitKey(l.text)
	if e != "" {
		p.errorf(l.num, "%s", e)
		p.pos++
		p.skipDeeper(indent)
		return &node{kind: nullNode, line: l.num}
	}
	if ok {
		return p.mapping(indent)
	}
	p.pos++
	return p.inline(l.text, l.num)
}

// skipDeeper drops the lines indented deeper than indent, after an error,
// so that one mistake is reported once.
func (p *yamlParser) skipDeeper(indent int) {
	for p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
		p.pos++
	}
}

// mapping parses a block mapping whose keys sit at indent.
func (p *yamlParser) mapping(indent int) *node {
	n := &node{kind: mapNode, line: p.lines[p.pos].num}
	seen := map[string]int{}
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			p.errorf(l.num, "unexpected indentation: this line is indented deeper than the key before it, which already has a value")
			p.skipDeeper(indent)
			continue
		}
		key, rest, ok, e := splitKey(l.text)
		if !ok {
			switch {
			case e != "":
				p.errorf(l.num, "%s", e)
			case isItem(l.text):
				p.errorf(l.num, "a list item where a \"key: value\" line was expected")
			default:
				p.errorf(l.num, "expected \"key: value\", got %q", l.text)
			}
			p.pos++
			p.skipDeeper(indent)
			continue
		}
		p.pos++
		var val *node
		if rest == "" {
			val = p.nested(indent, l.num, true)
		} else {
			val = p.inline(rest, l.num)
			if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
				p.errorf(p.lines[p.pos].num, "unexpected indentation: %q already has a value on line %d", key, l.num)
				p.skipDeeper(indent)
			}
		}
		if first, dup := seen[key]; dup {
			p.errorf(l.num, "duplicate key %q (first on line %d)", key, first)
			continue
		}
		seen[key] = l.num
		n.pairs = append(n.pairs, pair{key: key, line: l.num, val: val})
	}
	return n
}

// nested parses the value of a key or item with nothing after its ":" or
// "-": the deeper lines that follow, or, for a key (sameIndentList), a list
// at the key's own indent, which YAML allows. Otherwise the value is null.
func (p *yamlParser) nested(indent, line int, sameIndentList bool) *node {
	if p.pos < len(p.lines) {
		next := p.lines[p.pos]
		if next.indent > indent {
			return p.block(next.indent)
		}
		if sameIndentList && next.indent == indent && isItem(next.text) {
			return p.seq(indent)
		}
	}
	return &node{kind: nullNode, line: line}
}

// seq parses a block list whose "-" sit at indent.
func (p *yamlParser) seq(indent int) *node {
	n := &node{kind: seqNode, line: p.lines[p.pos].num}
	for p.pos < len(p.lines) {
		l := &p.lines[p.pos]
		if l.indent < indent || (l.indent == indent && !isItem(l.text)) {
			break
		}
		if l.indent > indent {
			p.errorf(l.num, "unexpected indentation inside a list")
			p.skipDeeper(indent)
			continue
		}
		rest := strings.TrimLeft(l.text[1:], " ")
		if rest == "" {
			p.pos++
			n.items = append(n.items, p.nested(indent, l.num, false))
			continue
		}
		// "- key: v" opens a mapping whose keys line up with "key": treat
		// the rest of the line as a line of its own at that column.
		l.indent += len(l.text) - len(rest)
		l.text = rest
		n.items = append(n.items, p.block(l.indent))
	}
	return n
}

// inline parses a value written on the line of its key or "-".
func (p *yamlParser) inline(text string, line int) *node {
	switch text[0] {
	case '"', '\'':
		s, used, e := quoted(text)
		if e == "" && strings.TrimSpace(text[used:]) != "" {
			e = fmt.Sprintf("unexpected %q after the quoted string", strings.TrimSpace(text[used:]))
		}
		if e != "" {
			p.errorf(line, "%s", e)
			return &node{kind: nullNode, line: line}
		}
		return &node{kind: scalarNode, line: line, text: s, quoted: true}
	case '[', '{':
		f := flowParser{s: text, line: line}
		n := f.value()
		f.space()
		if f.err == "" && f.i < len(f.s) {
			f.err = fmt.Sprintf("unexpected %q after the closing bracket", f.s[f.i:])
		}
		if f.err != "" {
			p.errorf(line, "%s", f.err)
			return &node{kind: nullNode, line: line}
		}
		return n
	case '|', '>':
		p.errorf(line, "block scalars (| and >) are not supported: write the value on one line, in quotes if needed")
		p.skipDeeperThanLine(line)
		return &node{kind: nullNode, line: line}
	case '&', '*':
		p.errorf(line, "YAML anchors and aliases (& and *) are not supported: write the value out")
		return &node{kind: nullNode, line: line}
	case '!':
		p.errorf(line, "YAML tags (!) are not supported")
		return &node{kind: nullNode, line: line}
	}
	return plain(text, line)
}

// skipDeeperThanLine drops the lines of a block scalar started at line.
func (p *yamlParser) skipDeeperThanLine(line int) {
	indent := -1
	for i := p.pos - 1; i >= 0; i-- {
		if p.lines[i].num == line {
			indent = p.lines[i].indent
			break
		}
	}
	if indent >= 0 {
		p.skipDeeper(indent)
	}
}

// plain makes a node of a plain (unquoted) scalar.
func plain(text string, line int) *node {
	switch text {
	case "", "~", "null", "Null", "NULL":
		return &node{kind: nullNode, line: line}
	}
	return &node{kind: scalarNode, line: line, text: text}
}

// quoted reads the quoted scalar that s starts with. It returns the value,
// the bytes of s used, and a message when the string is malformed.
func quoted(s string) (string, int, string) {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case q == '\'' && s[i] == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			if q == '\'' {
				return strings.ReplaceAll(s[1:i], "''", "'"), i + 1, ""
			}
			v, err := strconv.Unquote(strings.ReplaceAll(s[:i+1], `\/`, "/"))
			if err != nil {
				return "", 0, "bad escape in a double-quoted string"
			}
			return v, i + 1, ""
		}
	}
	return "", 0, "quoted string not closed on this line: keep a quoted value on one line"
}

// flowParser reads a one-line flow collection such as [a, "b"] or {k: v}.
type flowParser struct {
	s    string
	i    int
	line int
	err  string
}

func (f *flowParser) space() {
	for f.i < len(f.s) && f.s[f.i] == ' ' {
		f.i++
	}
}

// value reads one flow value; on error it sets f.err and returns a null.
func (f *flowParser) value() *node {
	f.space()
	if f.err != "" || f.i >= len(f.s) {
		if f.err == "" {
			f.err = "a [ or { not closed on this line: keep flow collections on one line"
		}
		return &node{kind: nullNode, line: f.line}
	}
	switch f.s[f.i] {
	case '[':
		return f.list()
	case '{':
		return f.mapping()
	case '"', '\'':
		v, n, e := quoted(f.s[f.i:])
		if e != "" {
			f.err = e
			return &node{kind: nullNode, line: f.line}
		}
		f.i += n
		return &node{kind: scalarNode, line: f.line, text: v, quoted: true}
	}
	start := f.i
	for f.i < len(f.s) && strings.IndexByte(",]}", f.s[f.i]) < 0 {
		f.i++
	}
	return plain(strings.TrimSpace(f.s[start:f.i]), f.line)
}

func (f *flowParser) list() *node {
	n := &node{kind: seqNode, line: f.line}
	f.i++ // [
	for {
		f.space()
		if f.i < len(f.s) && f.s[f.i] == ']' {
			f.i++
			return n
		}
		n.items = append(n.items, f.value())
		f.space()
		if f.err != "" {
			return n
		}
		if f.i < len(f.s) && f.s[f.i] == ',' {
			f.i++
			continue
		}
		if f.i >= len(f.s) || f.s[f.i] != ']' {
			f.err = "expected \",\" or \"]\" in a flow list (keep it on one line)"
			return n
		}
	}
}

func (f *flowParser) mapping() *node {
	n := &node{kind: mapNode, line: f.line}
	f.i++ // {
	for {
		f.space()
		if f.i < len(f.s) && f.s[f.i] == '}' {
			f.i++
			return n
		}
		var key string
		if f.i < len(f.s) && (f.s[f.i] == '"' || f.s[f.i] == '\'') {
			k, used, e := quoted(f.s[f.i:])
			if e != "" {
				f.err = e
				return n
			}
			key, f.i = k, f.i+used
		} else {
			start := f.i
			for f.i < len(f.s) && strings.IndexByte(":,}", f.s[f.i]) < 0 {
				f.i++
			}
			key = strings.TrimSpace(f.s[start:f.i])
		}
		f.space()
		if f.i >= len(f.s) || f.s[f.i] != ':' {
			f.err = "expected \"key: value\" in a flow mapping (keep it on one line)"
			return n
		}
		f.i++
		val := f.value()
		if f.err != "" {
			return n
		}
		n.pairs = append(n.pairs, pair{key: key, line: f.line, val: val})
		f.space()
		if f.i < len(f.s) && f.s[f.i] == ',' {
			f.i++
			continue
		}
		if f.i >= len(f.s) || f.s[f.i] != '}' {
			f.err = "expected \",\" or \"}\" in a flow mapping (keep it on one line)"
			return n
		}
	}
}
