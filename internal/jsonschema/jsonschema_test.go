package jsonschema

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

const testBase = "https://example.test/schemas/"

// compileOne compiles schema (the body of a file "s.json") alone.
func compileOne(t *testing.T, schema string) *Schema {
	t.Helper()
	s, err := NewSet(fstest.MapFS{"s.json": {Data: []byte(schema)}}, testBase).Schema("s.json")
	if err != nil {
		t.Fatalf("%s: %v", schema, err)
	}
	return s
}

// verdict validates doc against s and returns "" or the joined violations.
func verdict(t *testing.T, s *Schema, doc string) string {
	t.Helper()
	v, err := Decode([]byte(doc))
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	if err := s.Validate(v); err != nil {
		return err.Error()
	}
	return ""
}

func TestKeywords(t *testing.T) {
	cases := []struct {
		keyword, schema, doc, want string // want "" = valid, else the whole error
	}{
		{"type", `{"type":"string"}`, `"x"`, ``},
		{"type", `{"type":"string"}`, `1`, `at '/': got number, want string`},
		{"type list", `{"type":["object","null"]}`, `null`, ``},
		{"type list", `{"type":["object","null"]}`, `[]`, `at '/': got array, want null or object`},
		{"integer", `{"type":"integer"}`, `1.0`, ``},
		{"integer", `{"type":"integer"}`, `1e2`, ``},
		{"integer", `{"type":"integer"}`, `123456789012345678901234567890`, ``},
		{"integer", `{"type":"integer"}`, `9007199254740993.5`, `at '/': got number, want integer`},
		{"integer", `{"type":"integer"}`, `1e999999999`, ``},
		{"integer", `{"type":"integer"}`, `1e-999999999`, `at '/': got number, want integer`},
		{"integer", `{"type":"integer"}`, `"1"`, `at '/': got string, want integer`},
		{"number", `{"type":"number"}`, `1.5`, ``},
		{"boolean", `{"type":"boolean"}`, `0`, `at '/': got number, want boolean`},
		{"properties", `{"properties":{"a":{"type":"string"}}}`, `{"a":1,"b":1}`, `at '/a': got number, want string`},
		{"required", `{"required":["a"]}`, `{}`, `at '/': missing property 'a'`},
		{"required", `{"required":["b","a"]}`, `{}`, `at '/': missing properties 'b', 'a'`},
		{"required ignores non-objects", `{"required":["a"]}`, `1`, ``},
		{"additionalProperties false", `{"properties":{"a":true},"additionalProperties":false}`, `{"a":1,"z":1,"b":2}`, `at '/': additional properties 'b', 'z' not allowed`},
		{"additionalProperties schema", `{"additionalProperties":{"type":"string"}}`, `{"a":"x","b/c":1}`, `at '/b/c': got number, want string`},
		{"items", `{"items":{"type":"integer"}}`, `[1,"x",2,null]`, `at '/1': got string, want integer; at '/3': got null, want integer`},
		{"enum", `{"enum":["a","b"]}`, `"c"`, `at '/': value must be one of 'a', 'b'`},
		{"enum", `{"enum":["a"]}`, `"c"`, `at '/': value must be 'a'`},
		{"enum of objects", `{"enum":[{"a":1}]}`, `{"a":1.0}`, ``},
		{"enum of objects", `{"enum":[{"a":1}]}`, `{"a":2}`, `at '/': 'enum' failed`},
		{"const", `{"const":1}`, `1.0`, ``},
		{"const", `{"const":1}`, `10e-1`, ``},
		{"const", `{"const":1}`, `"1"`, `at '/': value must be 1`},
		{"const", `{"const":1}`, `2`, `at '/': value must be 1`},
		{"pattern", `{"pattern":"^[a-z]+$"}`, `"abc"`, ``},
		{"pattern", `{"pattern":"b"}`, `"abc"`, ``},
		{"pattern", `{"pattern":"^[a-z]+$"}`, `"a'B"`, `at '/': 'a\'B' does not match pattern '^[a-z]+$'`},
		{"minLength counts code points", `{"minLength":2}`, `"é"`, `at '/': minLength: got 1, want 2`},
		{"maxLength counts code points", `{"maxLength":2}`, `"éé"`, ``},
		{"maxLength", `{"maxLength":2}`, `"abc"`, `at '/': maxLength: got 3, want 2`},
		{"minimum", `{"minimum":0}`, `-0.0`, ``},
		{"minimum", `{"minimum":0}`, `-1`, `at '/': minimum: got -1, want 0`},
		{"minimum", `{"minimum":0}`, `-1e-400`, `at '/': minimum: got -1e-400, want 0`},
		{"minimum", `{"minimum":2.5}`, `25e-1`, ``},
		{"minimum", `{"minimum":-3}`, `-123456789012345678901234567890`, `at '/': minimum: got -123456789012345678901234567890, want -3`},
		{"format date-time", `{"format":"date-time"}`, `"2016-12-31T23:59:60Z"`, ``},
		{"format date-time", `{"format":"date-time"}`, `"2017-01-01T00:59:60+01:00"`, ``},
		{"format date-time", `{"format":"date-time"}`, `"2025-02-30T00:00:00Z"`, `at '/': '2025-02-30T00:00:00Z' is not valid date-time: invalid date element: parsing time "2025-02-30": day out of range`},
		{"format date-time", `{"format":"date-time"}`, `"2025-03-01T12:00:00"`, `at '/': '2025-03-01T12:00:00' is not valid date-time: less than 20 characters long`},
		{"format date-time", `{"format":"date-time"}`, `"2025-03-01T12:00:60Z"`, `at '/': '2025-03-01T12:00:60Z' is not valid date-time: invalid time element: invalid leap second`},
		{"format ignores non-strings", `{"format":"date-time"}`, `1`, ``},
		{"format uri", `{"format":"uri"}`, `"https://a.example/x?y"`, ``},
		{"format uri", `{"format":"uri"}`, `"a.example/x"`, `at '/': 'a.example/x' is not valid uri: relative url`},
		{"format uri", `{"format":"uri"}`, `"http://[::1]:80/"`, ``},
		{"format uri", `{"format":"uri"}`, `"http://[fe80::1%25en0]/"`, `at '/': 'http://[fe80::1%25en0]/' is not valid uri: invalid ipv6 address: zone id is not a part of ipv6 address`},
		{"allOf", `{"allOf":[{"minLength":2},{"pattern":"^a"}]}`, `"b"`, `at '/': 'b' does not match pattern '^a'; at '/': minLength: got 1, want 2`},
		{"anyOf", `{"anyOf":[{"maxLength":0},{"pattern":"^a"}]}`, `"ab"`, ``},
		{"anyOf", `{"anyOf":[{"maxLength":0},{"pattern":"^a"}]}`, `"b"`, `at '/': 'b' does not match pattern '^a'; at '/': maxLength: got 1, want 0`},
		{"if then", `{"if":{"properties":{"s":{"const":"ok"}}},"then":{"required":["i"]}}`, `{"s":"ok"}`, `at '/': missing property 'i'`},
		{"if then", `{"if":{"properties":{"s":{"const":"ok"}}},"then":{"required":["i"]}}`, `{"s":"no"}`, ``},
		{"$ref pointer", `{"properties":{"a":{"$ref":"#/$defs/x"}},"$defs":{"x":{"type":"string"}}}`, `{"a":1}`, `at '/a': got number, want string`},
		{"$ref escaped pointer", `{"$ref":"#/$defs/a~1b","$defs":{"a/b":{"type":"string"}}}`, `1`, `at '/': got number, want string`},
		{"$ref and siblings", `{"$ref":"#/$defs/x","maxLength":1,"$defs":{"x":{"minLength":3}}}`, `"ab"`, `at '/': maxLength: got 2, want 1; at '/': minLength: got 2, want 3`},
		{"false schema", `{"properties":{"a":false}}`, `{"a":1}`, `at '/a': false schema`},
		{"wrong type alone is reported", `{"type":"string","minLength":3,"pattern":"^a"}`, `1`, `at '/': got number, want string`},
		{"annotations", `{"title":"t","description":"d","$comment":"c","examples":[1],"default":1,"deprecated":false,"readOnly":false,"writeOnly":false}`, `1`, ``},
		{"$schema and $id", `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://example.test/schemas/s.json","type":"null"}`, `null`, ``},
	}
	for _, c := range cases {
		t.Run(c.keyword, func(t *testing.T) {
			if got := verdict(t, compileOne(t, c.schema), c.doc); got != c.want {
				t.Errorf("%s with %s:\ngot  %s\nwant %s", c.schema, c.doc, got, c.want)
			}
		})
	}
}

func TestRefToAnotherFile(t *testing.T) {
	fsys := fstest.MapFS{
		"a.json": {Data: []byte(`{"$id":"https://example.test/schemas/a.json","properties":{"b":{"$ref":"b.json#/$defs/n"},"c":{"$ref":"b.json"}}}`)},
		"b.json": {Data: []byte(`{"type":"object","$defs":{"n":{"type":"integer","minimum":1}}}`)},
	}
	s, err := NewSet(fsys, testBase).Schema("a.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := verdict(t, s, `{"b":0,"c":1}`), `at '/b': minimum: got 0, want 1; at '/c': got number, want object`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestRefusesWhatItDoesNotImplement: a schema using a keyword, format or form this package
// does not implement must fail to load, naming the keyword and where it is.
func TestRefusesWhatItDoesNotImplement(t *testing.T) {
	cases := []struct{ name, schema, want string }{
		{"unknown keyword", `{"oneOf":[true]}`, `s.json#: oneOf: unsupported keyword "oneOf"`},
		{"else", `{"if":true,"then":true,"else":false}`, `s.json#: else: unsupported keyword "else"`},
		{"keyword in a property", `{"properties":{"a":{"maximum":3}}}`, `s.json#/properties/a: maximum: unsupported keyword "maximum"`},
		{"keyword in an unused $def", `{"$defs":{"x":{"uniqueItems":true}}}`, `s.json#/$defs/x: uniqueItems: unsupported keyword`},
		{"keyword in allOf", `{"allOf":[{"not":{}}]}`, `s.json#/allOf/0: not: unsupported keyword`},
		{"keyword in additionalProperties", `{"additionalProperties":{"propertyNames":{}}}`, `s.json#/additionalProperties: propertyNames: unsupported keyword`},
		{"misspelt keyword", `{"required":["a"],"propertes":{}}`, `unsupported keyword "propertes"`},
		{"unknown format", `{"format":"email"}`, `s.json#: format: unsupported format email`},
		{"other draft", `{"$schema":"http://json-schema.org/draft-07/schema#"}`, `s.json#: $schema: only "https://json-schema.org/draft/2020-12/schema"`},
		{"nested $id", `{"properties":{"a":{"$id":"x.json"}}}`, `s.json#/properties/a: $id: must be`},
		{"other $id", `{"$id":"https://elsewhere.test/s.json"}`, `s.json#: $id: must be "https://example.test/schemas/s.json"`},
		{"items as array", `{"items":[{}]}`, `s.json#/items: a schema must be an object or a boolean, not array`},
		{"minLength not an integer", `{"minLength":1.5}`, `s.json#: minLength: must be a non-negative integer, not 1.5`},
		{"bad pattern", `{"pattern":"("}`, `s.json#: pattern: error parsing regexp`},
		{"unknown type", `{"type":"int"}`, `s.json#: type: int is not a JSON Schema type`},
		{"dangling $ref", `{"$ref":"#/$defs/x"}`, `s.json#: $ref "#/$defs/x": no subschema at s.json#/$defs/x`},
		{"anchor $ref", `{"$ref":"#x"}`, `only JSON pointer fragments are supported`},
		{"$ref outside the set", `{"$ref":"https://elsewhere.test/x.json"}`, `outside the schema files`},
		{"$ref to a missing file", `{"$ref":"missing.json"}`, `read schema missing.json`},
		{"$ref cycle", `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"allOf":[{"$ref":"#/$defs/a"}]}}}`, `in a cycle`},
		{"not JSON", `{"type":`, `parse schema s.json`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewSet(fstest.MapFS{"s.json": {Data: []byte(c.schema)}}, testBase).Schema("s.json")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: got %v, want an error containing %q", c.schema, err, c.want)
			}
		})
	}
}

// A file that refers to a broken one is refused too, every time it is asked for.
func TestBrokenReferenceStaysRefused(t *testing.T) {
	set := NewSet(fstest.MapFS{
		"a.json": {Data: []byte(`{"$ref":"b.json"}`)},
		"b.json": {Data: []byte(`{"$ref":"a.json","maximum":1}`)},
	}, testBase)
	for range 2 {
		if _, err := set.Schema("a.json"); err == nil || !strings.Contains(err.Error(), "maximum") {
			t.Fatalf("got %v", err)
		}
		if _, err := set.Schema("b.json"); err == nil {
			t.Fatal("b.json accepted")
		}
	}
}

func TestUnknownFileIsNotKept(t *testing.T) {
	set := NewSet(fstest.MapFS{}, testBase)
	if _, err := set.Schema("nope.json"); err == nil || !strings.Contains(err.Error(), "read schema nope.json") {
		t.Fatalf("got %v", err)
	}
	if len(set.docs) != 0 {
		t.Errorf("kept %v", set.docs)
	}
}

// readCounter is an fs.FS that counts the files read from it.
type readCounter struct {
	files fstest.MapFS
	mu    sync.Mutex
	reads map[string]int
}

func (r *readCounter) Open(name string) (fs.File, error) {
	r.mu.Lock()
	r.reads[name]++
	r.mu.Unlock()
	return r.files.Open(name)
}

// TestCompilesLazilyOnceAndConcurrently: nothing is read before a schema is asked for, only the
// files it needs are read, each once, however many goroutines ask at the same time.
func TestCompilesLazilyOnceAndConcurrently(t *testing.T) {
	fsys := &readCounter{files: fstest.MapFS{
		"a.json":      {Data: []byte(`{"properties":{"n":{"$ref":"b.json"}}}`)},
		"b.json":      {Data: []byte(`{"type":"integer"}`)},
		"unused.json": {Data: []byte(`{"type":"string"}`)},
	}, reads: map[string]int{}}
	set := NewSet(fsys, testBase)
	if len(fsys.reads) != 0 {
		t.Fatalf("NewSet read %v", fsys.reads)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			s, err := set.Schema("a.json")
			if err == nil {
				doc := map[string]any{"n": json.Number("1")}
				if i%2 == 1 {
					doc["n"] = "x"
				}
				if err = s.Validate(doc); (err != nil) != (i%2 == 1) {
					err = errors.New("wrong verdict")
				} else {
					err = nil
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if fsys.reads["a.json"] != 1 || fsys.reads["b.json"] != 1 || fsys.reads["unused.json"] != 0 {
		t.Errorf("reads %v, want a.json and b.json once each", fsys.reads)
	}
}

func TestDecode(t *testing.T) {
	v, err := Decode([]byte(` {"n": 123456789012345678901234567890} `))
	if err != nil || v.(map[string]any)["n"] != json.Number("123456789012345678901234567890") {
		t.Errorf("got %#v, %v", v, err)
	}
	for _, bad := range []string{``, `{} {}`, `1 x`, `{"a":}`, `[1,]`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestInvalidGoValue(t *testing.T) {
	s := compileOne(t, `{"type":"number"}`)
	if err := s.Validate(1.5); err == nil || !strings.Contains(err.Error(), "float64") {
		t.Errorf("a float64 (not what Decode returns) was judged: %v", err)
	}
}
