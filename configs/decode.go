package configs

import (
	"crypto/tls"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The decoder walks the YAML node tree against the Go types by reflection,
// using their `yaml` tags, so a field added to the schema is known to the
// loader without touching this file. Walking both at once is also what
// finds unknown keys (with the line of the key) and records Positions.

// decoder fills a Config from a node tree.
type decoder struct {
	ps *problems
}

var (
	durationType    = reflect.TypeFor[Duration]()
	cipherSuiteType = reflect.TypeFor[CipherSuite]()
)

// decode stores n into v (settable), path naming v in messages.
func (d *decoder) decode(n *node, v reflect.Value, path string) {
	switch v.Type() {
	case durationType:
		d.duration(n, v, path)
		return
	case cipherSuiteType:
		d.cipherSuite(n, v, path)
		return
	}
	if n.kind == nullNode {
		return // an empty value leaves the zero value, as if not written
	}
	if n.kind == mapNode {
		d.duplicates(n, path)
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.list(n, v, path)
	case reflect.Map:
		d.dict(n, v, path)
	case reflect.Interface:
		v.Set(reflect.ValueOf(natural(n)))
	default:
		d.scalar(n, v, path)
	}
}

// duplicates reports every key a mapping gives twice: YAML forbids it,
// and which of the two was meant cannot be known.
func (d *decoder) duplicates(n *node, path string) {
	for i, p := range n.pairs {
		for _, q := range n.pairs[:i] {
			if q.key == p.key {
				d.ps.errorAt(p.line, join(path, p.key), fmt.Sprintf("given twice in one mapping; the first is at line %d", q.line))
				break
			}
		}
	}
}

// want reports a value of the wrong shape.
func (d *decoder) want(n *node, path, what string) {
	d.ps.errorAt(n.line, path, fmt.Sprintf("expected %s, got %s", what, n.describe()))
}

// structure decodes a mapping into a struct, key by key.
func (d *decoder) structure(n *node, v reflect.Value, path string) {
	if n.kind != mapNode {
		d.want(n, path, "a mapping of keys")
		return
	}
	fields := fieldsOf(v.Type())
	for _, p := range n.pairs {
		key := join(path, p.key)
		f, ok := fields.byKey[p.key]
		if !ok {
			d.ps.errorAt(p.line, key, "unknown key"+suggest(p.key, fields.keys))
			continue
		}
		d.ps.pos[key] = p.line
		if f.unimplemented {
			msg := "a Terraster key Spillway does not implement; ignored"
			if f.hint != "" {
				msg += " (" + f.hint + ")"
			}
			d.ps.warnAt(p.line, key, msg)
			continue
		}
		d.decode(p.val, v.FieldByIndex(f.index), key)
	}
}

// list decodes a YAML list into a slice.
func (d *decoder) list(n *node, v reflect.Value, path string) {
	if n.kind != seqNode {
		d.want(n, path, "a list")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.items), len(n.items))
	for i, item := range n.items {
		key := path + "[" + strconv.Itoa(i) + "]"
		d.ps.pos[key] = item.line
		d.decode(item, s.Index(i), key)
	}
	v.Set(s)
}

// dict decodes a mapping into a map with string keys.
func (d *decoder) dict(n *node, v reflect.Value, path string) {
	if n.kind != mapNode {
		d.want(n, path, "a mapping")
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.pairs))
	for _, p := range n.pairs {
		key := join(path, p.key)
		d.ps.pos[key] = p.line
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.val, e, key)
		m.SetMapIndex(reflect.ValueOf(p.key).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

// scalar decodes strings, booleans and numbers.
func (d *decoder) scalar(n *node, v reflect.Value, path string) {
	if n.kind != scalarNode {
		d.want(n, path, "a single value")
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.text)
	case reflect.Bool:
		switch n.text {
		case "true", "True", "TRUE":
			v.SetBool(true)
		case "false", "False", "FALSE":
			v.SetBool(false)
		default:
			d.want(n, path, "true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.text, 10, v.Type().Bits())
		if err != nil {
			i, err = strconv.ParseInt(n.text, 0, v.Type().Bits())
		}
		if err != nil {
			d.want(n, path, "a whole number")
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(n.text, 0, v.Type().Bits())
		if err != nil {
			d.want(n, path, "a whole number ≥ 0")
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n.text, v.Type().Bits())
		if err != nil {
			d.want(n, path, "a number")
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable when someone adds a field of a new kind to the
		// schema: say so rather than ignore the value.
		d.ps.errorAt(n.line, path, fmt.Sprintf("internal: the loader cannot decode a %s", v.Type()))
	}
}

// duration decodes a string such as "10s" or "1m30s". A bare number is an
// error: its unit would be a guess (Terraster writes durations as strings).
func (d *decoder) duration(n *node, v reflect.Value, path string) {
	if n.kind == nullNode {
		return
	}
	const want = `a duration with a unit, such as "10s", "1m30s" or "500ms"`
	if n.kind != scalarNode {
		d.want(n, path, want)
		return
	}
	if !n.quoted && isNumber(n.text) {
		d.ps.errorAt(n.line, path, "expected "+want+", got the bare number "+n.text)
		return
	}
	t, err := time.ParseDuration(n.text)
	if err != nil {
		d.want(n, path, want)
		return
	}
	v.SetInt(int64(t))
}

// cipherSuite decodes a suite given as Terraster's number or Go's name.
func (d *decoder) cipherSuite(n *node, v reflect.Value, path string) {
	if n.kind != scalarNode {
		d.want(n, path, "a cipher suite name or number")
		return
	}
	id, ok := lookupCipherSuite(n.text)
	if !ok {
		d.ps.errorAt(n.line, path, fmt.Sprintf("unknown cipher suite %q: expected a Go name such as "+
			"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or its number (49199 or 0xc02f)", n.text))
		return
	}
	v.SetUint(uint64(id))
}

// lookupCipherSuite finds a suite by number or name among Go's secure and
// insecure suites.
func lookupCipherSuite(s string) (uint16, bool) {
	all := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	if u, err := strconv.ParseUint(s, 0, 16); err == nil {
		for _, c := range all {
			if c.ID == uint16(u) {
				return c.ID, true
			}
		}
		return 0, false
	}
	for _, c := range all {
		if strings.EqualFold(c.Name, s) {
			return c.ID, true
		}
	}
	return 0, false
}

// isNumber reports whether s reads as a YAML number.
func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// natural turns a node into plain Go values (map[string]any, []any,
// string, int, float64, bool, nil), as plugin settings are passed on as
// JSON.
func natural(n *node) any {
	switch n.kind {
	case mapNode:
		m := make(map[string]any, len(n.pairs))
		for _, p := range n.pairs {
			m[p.key] = natural(p.val)
		}
		return m
	case seqNode:
		s := make([]any, len(n.items))
		for i, item := range n.items {
			s[i] = natural(item)
		}
		return s
	case nullNode:
		return nil
	}
	if n.quoted {
		return n.text
	}
	switch n.text {
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE":
		return false
	}
	if i, err := strconv.ParseInt(n.text, 10, 64); err == nil {
		return int(i)
	}
	if f, err := strconv.ParseFloat(n.text, 64); err == nil {
		return f
	}
	return n.text
}

// join appends key to a path.
func join(path, key string) string {
	if path == "" || key == "" {
		return path + key
	}
	return path + "." + key
}

// field is what the decoder knows of one struct field.
type field struct {
	index         []int
	unimplemented bool   // `spillway:"unimplemented"`: warn and ignore
	hint          string // `hint:"..."`: where the supported form lives
}

// fieldSet is a struct type's fields by yaml key.
type fieldSet struct {
	byKey map[string]field
	keys  []string // for suggestions, in declaration order
}

var fieldCache sync.Map // reflect.Type → *fieldSet

// fieldsOf returns t's fields by their yaml tag; untagged and "-" fields
// are not keys.
func fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byKey: map[string]field{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		fs.byKey[name] = field{
			index:         sf.Index,
			unimplemented: sf.Tag.Get("spillway") == "unimplemented",
			hint:          sf.Tag.Get("hint"),
		}
		fs.keys = append(fs.keys, name)
	}
	fieldCache.Store(t, fs)
	return fs
}
