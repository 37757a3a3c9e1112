package events

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"unicode/utf8"

	"github.com/mlops-dev/nbv/internal/jsonschema"
	"github.com/mlops-dev/nbv/schemas"
)

// schemaBase is the URL prefix of every schema's $id; the schemas refer to each other relative to it.
const schemaBase = "https://mlops.dev/nbv/schemas/"

// ErrUnknownType is returned for an event type that has no schema: the project neither accepts
// nor emits it. It wraps ErrMalformed.
var ErrUnknownType = fmt.Errorf("%w: unknown event type", ErrMalformed)

// registry compiles schemas on first use: a function validates only the few types it handles, so
// compiling all of them at start would only add cold-start time.
var registry = jsonschema.NewSet(schemas.FS, schemaBase)

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
	s, err := registry.Schema(eventType + ".json")
	if err != nil {
		return nil, fmt.Errorf("compile schema of %s: %w", eventType, err)
	}
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
		doc, err = jsonschema.Decode(data)
		if err != nil {
			return fmt.Errorf("%w: data of %s is not JSON: %v (data starts %q)", ErrMalformed, eventType, err, prefix(data))
		}
	}
	if err := s.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%w: data of %s does not match its schema: %s", ErrMalformed, eventType, ve)
		}
		return fmt.Errorf("validate data of %s: %w", eventType, err)
	}
	return nil
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
