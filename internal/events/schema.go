package events

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/mlops-dev/nbv/schemas"
)

// schemaBase is the URL prefix of every schema's $id; the schemas refer to each other relative to it.
const schemaBase = "https://mlops.dev/nbv/schemas/"

// ErrUnknownType is returned for an event type that has no schema: the project neither accepts
// nor emits it. It wraps ErrMalformed.
var ErrUnknownType = fmt.Errorf("%w: unknown event type", ErrMalformed)

// registry compiles schemas on first use: a function validates only the few types it handles, so
// compiling all of them at start would only add cold-start time.
var registry struct {
	once     sync.Once
	mu       sync.Mutex // jsonschema.Compiler is not safe for concurrent use
	compiler *jsonschema.Compiler
	loadErr  error
	compiled map[string]*jsonschema.Schema
}

func loadRegistry() {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Formats (date-time, uri) are annotations only by default in 2020-12; we want them enforced.
	c.AssertFormat()
	names, err := fs.Glob(schemas.FS, "*.json")
	if err != nil {
		registry.loadErr = fmt.Errorf("list embedded schemas: %w", err)
		return
	}
	for _, name := range names {
		b, err := schemas.FS.ReadFile(name)
		if err != nil {
			registry.loadErr = fmt.Errorf("read embedded schema %s: %w", name, err)
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			registry.loadErr = fmt.Errorf("parse embedded schema %s: %w", name, err)
			return
		}
		if err := c.AddResource(schemaBase+name, doc); err != nil {
			registry.loadErr = fmt.Errorf("add embedded schema %s: %w", name, err)
			return
		}
	}
	registry.compiler = c
	registry.compiled = map[string]*jsonschema.Schema{}
}

// HasSchema reports whether eventType has a schema, i.e. whether the project knows the type.
func HasSchema(eventType string) bool {
	if eventType == "" || strings.ContainsAny(eventType, "/\\") {
		return false
	}
	_, err := fs.Stat(schemas.FS, eventType+".json")
	return err == nil
}

func schemaFor(eventType string) (*jsonschema.Schema, error) {
	if !HasSchema(eventType) {
		return nil, fmt.Errorf("%w %q: no schema in package schemas", ErrUnknownType, eventType)
	}
	registry.once.Do(loadRegistry)
	if registry.loadErr != nil {
		return nil, registry.loadErr
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if s, ok := registry.compiled[eventType]; ok {
		return s, nil
	}
	s, err := registry.compiler.Compile(schemaBase + eventType + ".json")
	if err != nil {
		return nil, fmt.Errorf("compile schema of %s: %w", eventType, err)
	}
	registry.compiled[eventType] = s
	return s, nil
}

// ValidateData checks an event's data against the schema of its type. Empty data is validated as
// JSON null (a PingSource without data sends none). A type without a schema yields ErrUnknownType;
// data that is not JSON or does not match yields ErrMalformed with every violation named by its
// JSON pointer, e.g. "at '/observedGeneration': got string, want integer".
func ValidateData(eventType string, data []byte) error {
	s, err := schemaFor(eventType)
	if err != nil {
		return err
	}
	if at := InvalidUTF8(data); at >= 0 {
		// encoding/json would silently turn the bytes into U+FFFD: what was signed or sent
		// would not be what is decoded.
		return fmt.Errorf("%w: data of %s is not valid UTF-8 (invalid byte at offset %d)", ErrMalformed, eventType, at)
	}
	var doc any
	if len(bytes.TrimSpace(data)) > 0 {
		doc, err = jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("%w: data of %s is not JSON: %v (data starts %q)", ErrMalformed, eventType, err, prefix(data))
		}
	}
	if err := s.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%w: data of %s does not match its schema: %s", ErrMalformed, eventType, violations(ve))
		}
		return fmt.Errorf("validate data of %s: %w", eventType, err)
	}
	return nil
}

// violations flattens the leaf errors of a validation into one line: the tree form is for
// humans at a terminal, a log line or HTTP 400 body wants the facts.
func violations(ve *jsonschema.ValidationError) string {
	printer := message.NewPrinter(language.English)
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, fmt.Sprintf("at '/%s': %s", strings.Join(e.InstanceLocation, "/"), e.ErrorKind.LocalizedString(printer)))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	// The library finds violations of an object's properties in map order; the same data must
	// get the same answer every time.
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// InvalidUTF8 returns the offset of the first byte of b that is not valid UTF-8, or -1.
func InvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// prefix returns the start of a payload for error messages, bounded so a huge body cannot flood logs.
func prefix(b []byte) string {
	const n = 120
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
