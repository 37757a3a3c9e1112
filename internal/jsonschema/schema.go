package jsonschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// draft2020 is the only dialect a schema may declare in $schema.
const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// Schema is one compiled (sub)schema. It is immutable once its Set has returned it, so any
// number of goroutines may validate with it at once.
type Schema struct {
	location string // file#pointer, for load errors

	boolean *bool // set for the schemas true and false, which have no keywords

	types       []string // allowed JSON types, in the order violations list them
	hasConst    bool
	constant    any
	enum        []any
	format      string
	formatCheck func(string) error
	ref         *Schema
	required    []string
	properties  map[string]*Schema
	additional  *Schema // additionalProperties
	items       *Schema
	minLength   int // -1 when absent
	maxLength   int // -1 when absent
	pattern     *regexp.Regexp
	minimum     *json.Number
	allOf       []*Schema
	anyOf       []*Schema
	ifSchema    *Schema
	thenSchema  *Schema
}

// Set is a family of schema files, each the schema of its file name, that may refer to each
// other. Files are read and compiled on first use and kept; a Set is safe for concurrent use.
type Set struct {
	fsys fs.FS
	base string // every file's $id is base + its file name; relative $refs resolve against it

	mu   sync.Mutex
	docs map[string]*document // by file name
}

// document is one compiled schema file.
type document struct {
	name  string
	root  *Schema
	nodes map[string]*Schema // every subschema, by JSON pointer within the file
	err   error              // why the file (or one it refers to) does not compile
}

// NewSet returns a Set reading schema files from fsys; base is the URL prefix of their $ids.
// It does no work until a schema is asked for.
func NewSet(fsys fs.FS, base string) *Set {
	return &Set{fsys: fsys, base: base}
}

// Schema returns the compiled schema of the file name (e.g. "runner-summary.v1.json").
func (s *Set) Schema(name string) (*Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.docs == nil {
		s.docs = map[string]*document{}
	}
	l := loader{set: s}
	d, err := l.load(name)
	if err == nil {
		err = checkRefCycles(l.loaded)
	}
	if err != nil {
		// A file compiled in this call may point into one that failed: none of them is usable.
		for _, d := range l.loaded {
			d.err = err
		}
		return nil, err
	}
	return d.root, nil
}

// loader compiles the files one Set.Schema call needs, with the Set's lock held.
type loader struct {
	set    *Set
	loaded []*document
}

// pendingRef is a $ref met while compiling a file, resolved once the whole file is compiled
// (it may point forward into the same file).
type pendingRef struct {
	from *Schema
	ref  string
}

func (l *loader) load(name string) (*document, error) {
	if d, ok := l.set.docs[name]; ok {
		return d, d.err
	}
	raw, err := fs.ReadFile(l.set.fsys, name)
	if err != nil {
		// Not kept: a name that is not a file of the set must not grow the set.
		return nil, fmt.Errorf("read schema %s: %w", name, err)
	}
	d := &document{name: name, nodes: map[string]*Schema{}}
	l.set.docs[name] = d
	l.loaded = append(l.loaded, d)
	v, err := Decode(raw)
	if err != nil {
		d.err = fmt.Errorf("parse schema %s: %w", name, err)
		return d, d.err
	}
	c := compiler{set: l.set, doc: d}
	if d.root, err = c.compile(v, ""); err != nil {
		d.err = err
		return d, err
	}
	for _, p := range c.refs {
		if p.from.ref, err = l.resolve(d, p.ref); err != nil {
			d.err = fmt.Errorf("%s: $ref %q: %w", p.from.location, p.ref, err)
			return d, d.err
		}
	}
	return d, nil
}

// resolve finds the subschema a $ref of document d names: another file of the set and/or a
// JSON pointer fragment.
func (l *loader) resolve(d *document, ref string) (*Schema, error) {
	base, err := url.Parse(l.set.base + d.name)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(ref)
	if err != nil {
		return nil, err
	}
	target := base.ResolveReference(u)
	pointer := target.Fragment
	target.Fragment, target.RawFragment = "", ""
	name, ok := strings.CutPrefix(target.String(), l.set.base)
	if !ok || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("refers to %s, outside the schema files under %s", target, l.set.base)
	}
	if pointer != "" && !strings.HasPrefix(pointer, "/") {
		return nil, errors.New("only JSON pointer fragments are supported, not anchors")
	}
	td, err := l.load(name)
	if err != nil {
		return nil, err
	}
	s, ok := td.nodes[pointer]
	if !ok {
		return nil, fmt.Errorf("no subschema at %s#%s", name, pointer)
	}
	return s, nil
}

// compiler turns one file's JSON into Schemas.
type compiler struct {
	set  *Set
	doc  *document
	refs []pendingRef
}

func (c *compiler) compile(v any, pointer string) (*Schema, error) {
	s := &Schema{location: c.doc.name + "#" + pointer, minLength: -1, maxLength: -1}
	c.doc.nodes[pointer] = s
	if b, ok := v.(bool); ok {
		s.boolean = &b
		return s, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: a schema must be an object or a boolean, not %s", s.location, jsonType(v))
	}
	// Sorted, so that a file with several problems always reports the same one.
	for _, kw := range slices.Sorted(maps.Keys(obj)) {
		if err := c.keyword(s, kw, obj[kw], pointer); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", s.location, kw, err)
		}
	}
	return s, nil
}

// keyword compiles one keyword of s; an unknown keyword is an error so that none is ever
// silently ignored.
func (c *compiler) keyword(s *Schema, kw string, v any, pointer string) error {
	at := pointer + "/" + escapeToken(kw)
	var err error
	switch kw {
	case "title", "description", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly":
		// Annotations: they assert nothing.
	case "$schema":
		if pointer != "" || v != draft2020 {
			return fmt.Errorf("only %q, at the root of a file, is supported", draft2020)
		}
	case "$id":
		if want := c.set.base + c.doc.name; pointer != "" || v != want {
			return fmt.Errorf("must be %q, at the root of the file", want)
		}
	case "$ref":
		ref, ok := v.(string)
		if !ok {
			return errors.New("must be a string")
		}
		c.refs = append(c.refs, pendingRef{from: s, ref: ref})
	case "$defs":
		_, err = c.schemaMap(v, at)
	case "type":
		s.types, err = parseTypes(v)
	case "properties":
		s.properties, err = c.schemaMap(v, at)
	case "required":
		s.required, err = stringList(v)
	case "additionalProperties":
		s.additional, err = c.compile(v, at)
	case "items":
		s.items, err = c.compile(v, at)
	case "enum":
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return errors.New("must be a non-empty array")
		}
		s.enum = list
	case "const":
		s.hasConst, s.constant = true, v
	case "pattern":
		p, ok := v.(string)
		if !ok {
			return errors.New("must be a string")
		}
		s.pattern, err = regexp.Compile(p)
	case "minLength":
		s.minLength, err = nonNegativeInt(v)
	case "maxLength":
		s.maxLength, err = nonNegativeInt(v)
	case "minimum":
		n, ok := v.(json.Number)
		if !ok {
			return errors.New("must be a number")
		}
		s.minimum = &n
	case "format":
		name, _ := v.(string)
		if s.formatCheck = formatCheck(name); s.formatCheck == nil {
			return fmt.Errorf("unsupported format %v", v)
		}
		s.format = name
	case "allOf":
		s.allOf, err = c.schemaList(v, at)
	case "anyOf":
		s.anyOf, err = c.schemaList(v, at)
	case "if":
		s.ifSchema, err = c.compile(v, at)
	case "then":
		s.thenSchema, err = c.compile(v, at)
	default:
		return fmt.Errorf("unsupported keyword %q (package jsonschema implements only the keywords the project's schemas use)", kw)
	}
	return err
}

func (c *compiler) schemaMap(v any, pointer string) (map[string]*Schema, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("must be an object")
	}
	out := make(map[string]*Schema, len(obj))
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		s, err := c.compile(obj[k], pointer+"/"+escapeToken(k))
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

func (c *compiler) schemaList(v any, pointer string) ([]*Schema, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, errors.New("must be a non-empty array")
	}
	out := make([]*Schema, len(list))
	for i, item := range list {
		s, err := c.compile(item, pointer+"/"+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// typeOrder is the order in which a type violation lists the wanted types.
var typeOrder = [...]string{"null", "boolean", "number", "integer", "string", "array", "object"}

func parseTypes(v any) ([]string, error) {
	names := []any{v}
	if list, ok := v.([]any); ok {
		names = list
	}
	var types []string
	for _, n := range names {
		name, ok := n.(string)
		if !ok || !slices.Contains(typeOrder[:], name) {
			return nil, fmt.Errorf("%v is not a JSON Schema type", n)
		}
		types = append(types, name)
	}
	if len(types) == 0 {
		return nil, errors.New("must name at least one type")
	}
	slices.SortFunc(types, func(a, b string) int {
		return slices.Index(typeOrder[:], a) - slices.Index(typeOrder[:], b)
	})
	return slices.Compact(types), nil
}

func stringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("must be an array of strings")
	}
	out := make([]string, len(list))
	for i, item := range list {
		if out[i], ok = item.(string); !ok {
			return nil, errors.New("must be an array of strings")
		}
	}
	return out, nil
}

func nonNegativeInt(v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, errors.New("must be a non-negative integer")
	}
	i, err := strconv.Atoi(n.String())
	if err != nil || i < 0 {
		return 0, fmt.Errorf("must be a non-negative integer, not %s", n)
	}
	return i, nil
}

// escapeToken escapes a JSON pointer reference token (RFC 6901).
func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// checkRefCycles refuses schemas that could apply themselves to the same value forever (a
// $ref, allOf, anyOf, if or then leading back to itself), which would overflow the stack at
// validation rather than fail at load.
func checkRefCycles(docs []*document) error {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[*Schema]int{}
	var visit func(s *Schema) error
	visit = func(s *Schema) error {
		switch state[s] {
		case onPath:
			return fmt.Errorf("%s: applies itself to the same value in a cycle ($ref, allOf, anyOf, if, then)", s.location)
		case done:
			return nil
		}
		state[s] = onPath
		next := slices.Concat([]*Schema{s.ref, s.ifSchema, s.thenSchema}, s.allOf, s.anyOf)
		for _, n := range next {
			if n == nil {
				continue
			}
			if err := visit(n); err != nil {
				return err
			}
		}
		state[s] = done
		return nil
	}
	for _, d := range docs {
		for _, p := range slices.Sorted(maps.Keys(d.nodes)) {
			if err := visit(d.nodes[p]); err != nil {
				return err
			}
		}
	}
	return nil
}
