package configs

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// This file turns YAML into a small tree of nodes that keep their lines,
// using goccy/go-yaml's parser (it reports positions, which the messages
// need). The tree holds only what the decoder walks: mappings in written
// order, lists and scalars; anchors, aliases and merge keys ("<<") are
// resolved here, tags are dropped.

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
	quoted bool   // scalarNode: a string as written (quoted or block), never a number
	pairs  []pair
	items  []*node
}

// pair is one "key: value" of a mapping.
type pair struct {
	key  string
	line int
	val  *node
}

// describe names a node for messages such as "expected a list, got a
// mapping".
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

// positioned is what go-yaml's errors offer beyond error.
type positioned interface {
	GetToken() *token.Token
	GetMessage() string
}

// parseYAML reads data into a node tree; the root is a nullNode for an
// empty document. go-yaml stops at its first syntax error, so a file with
// broken syntax reports that one; the problems of a readable file are all
// reported later.
func parseYAML(data []byte) (*node, []syntaxError) {
	// Duplicate keys are left to the decoder, which knows the key's path.
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		if pe, ok := err.(positioned); ok && pe.GetToken() != nil {
			msg := pe.GetMessage()
			if strings.Contains(msg, "'\t'") {
				msg = "a tab where YAML allows only spaces (indentation is spaces only)"
			}
			return nil, []syntaxError{{line: pe.GetToken().Position.Line, msg: msg}}
		}
		return nil, []syntaxError{{msg: err.Error()}}
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if _, directive := d.Body.(*ast.DirectiveNode); d != nil && d.Body != nil && !directive {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return &node{kind: nullNode, line: 1}, nil
	}
	c := &converter{anchors: map[string]*node{}}
	root := c.convert(docs[0].Body)
	if len(docs) > 1 {
		c.errorf(docs[1].Body, "a second YAML document: a configuration file holds one")
	}
	return root, c.errs
}

// converter turns go-yaml's AST into nodes.
type converter struct {
	anchors map[string]*node
	errs    []syntaxError
}

func lineOf(n ast.Node) int {
	switch v := n.(type) {
	case *ast.MappingNode:
		if len(v.Values) > 0 {
			return lineOf(v.Values[0])
		}
	case *ast.MappingValueNode:
		return lineOf(v.Key)
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

func (c *converter) errorf(n ast.Node, format string, args ...any) {
	c.errs = append(c.errs, syntaxError{line: lineOf(n), msg: fmt.Sprintf(format, args...)})
}

// convert turns one AST node into a node.
func (c *converter) convert(n ast.Node) *node {
	if n == nil {
		return &node{kind: nullNode}
	}
	line := lineOf(n)
	switch v := n.(type) {
	case *ast.NullNode:
		return &node{kind: nullNode, line: line}
	case *ast.StringNode:
		tk := v.GetToken()
		quoted := tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType
		return &node{kind: scalarNode, line: line, text: v.Value, quoted: quoted}
	case *ast.LiteralNode:
		return &node{kind: scalarNode, line: line, text: v.Value.Value, quoted: true}
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return &node{kind: scalarNode, line: line, text: n.GetToken().Value}
	case *ast.TagNode:
		return c.convert(v.Value)
	case *ast.AnchorNode:
		val := c.convert(v.Value)
		c.anchors[v.Name.GetToken().Value] = val
		return val
	case *ast.AliasNode:
		name := v.Value.GetToken().Value
		if val, ok := c.anchors[name]; ok {
			return val
		}
		c.errorf(n, "alias *%s names no anchor defined before it", name)
		return &node{kind: nullNode, line: line}
	case *ast.MappingNode:
		return c.mapping(line, v.Values)
	case *ast.MappingValueNode:
		return c.mapping(line, []*ast.MappingValueNode{v})
	case *ast.SequenceNode:
		s := &node{kind: seqNode, line: line}
		for _, item := range v.Values {
			s.items = append(s.items, c.convert(item))
		}
		return s
	}
	c.errorf(n, "unsupported YAML (%s)", n.Type())
	return &node{kind: nullNode, line: line}
}

// mapping converts the pairs of a mapping, applying merge keys ("<<:
// *base" copies base's pairs that the mapping does not write itself).
func (c *converter) mapping(line int, values []*ast.MappingValueNode) *node {
	m := &node{kind: mapNode, line: line}
	var merged []pair
	for _, mv := range values {
		if mv.Key.IsMergeKey() {
			src := c.convert(mv.Value)
			switch src.kind {
			case mapNode:
				merged = append(merged, src.pairs...)
			case seqNode:
				for _, item := range src.items {
					merged = append(merged, item.pairs...)
				}
			}
			continue
		}
		k := c.convert(mv.Key)
		if k.kind != scalarNode {
			c.errorf(mv.Key, "a mapping key must be a plain value, got %s", k.describe())
			continue
		}
		m.pairs = append(m.pairs, pair{key: k.text, line: lineOf(mv), val: c.convert(mv.Value)})
	}
	for _, p := range merged {
		if !hasKey(m.pairs, p.key) {
			m.pairs = append(m.pairs, p)
		}
	}
	return m
}

func hasKey(pairs []pair, key string) bool {
	for _, p := range pairs {
		if p.key == key {
			return true
		}
	}
	return false
}
