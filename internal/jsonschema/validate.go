package jsonschema

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Violation is one way a value fails a schema.
type Violation struct {
	Path    []string // where in the document: one member name or array index per level
	Message string
}

// String is the violation as the project reports it: "at '/observedGeneration': got string,
// want integer". The path's tokens are joined as they are, without JSON pointer escapes, so a
// label key such as mlops.mlops.dev/notebookvalidationjob reads as written.
func (v Violation) String() string {
	return fmt.Sprintf("at '/%s': %s", strings.Join(v.Path, "/"), v.Message)
}

// ValidationError lists every violation of a document, sorted by String.
type ValidationError struct {
	Violations []Violation
}

// Error joins the violations with "; ": one line for a log or an HTTP 400 body.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		lines[i] = v.String()
	}
	return strings.Join(lines, "; ")
}

// Validate checks a decoded JSON value (as Decode returns it) against s. It returns nil or a
// *ValidationError naming every violation.
func (s *Schema) Validate(v any) error {
	var found violations
	found.check(s, v, nil)
	if len(found) == 0 {
		return nil
	}
	slices.SortStableFunc(found, func(a, b Violation) int { return strings.Compare(a.String(), b.String()) })
	return &ValidationError{Violations: found}
}

type violations []Violation

func (vs *violations) add(path []string, format string, args ...any) {
	*vs = append(*vs, Violation{Path: slices.Clone(path), Message: fmt.Sprintf(format, args...)})
}

// of returns the violations of v against s on their own: what anyOf and if need to decide.
func of(s *Schema, v any, path []string) violations {
	var found violations
	found.check(s, v, path)
	return found
}

// check adds the violations of v, found at path, against s. A value of the wrong type, or
// failing const, enum or format, is reported for that alone (the other keywords would only
// repeat it), as the library this package replaced did, so that messages did not change.
func (vs *violations) check(s *Schema, v any, path []string) {
	if s.boolean != nil {
		if !*s.boolean {
			vs.add(path, "false schema")
		}
		return
	}
	t := jsonType(v)
	if t == "" {
		vs.add(path, "invalid JSON value of Go type %T", v)
		return
	}
	if s.types != nil && !s.allowsType(t, v) {
		vs.add(path, "got %s, want %s", t, strings.Join(s.types, " or "))
		return
	}
	if s.hasConst && !equal(v, s.constant) {
		vs.add(path, "%s", mustBe([]any{s.constant}, "const"))
		return
	}
	if s.enum != nil && !slices.ContainsFunc(s.enum, func(e any) bool { return equal(v, e) }) {
		vs.add(path, "%s", mustBe(s.enum, "enum"))
		return
	}
	if str, ok := v.(string); ok && s.formatCheck != nil {
		if err := s.formatCheck(str); err != nil {
			vs.add(path, "%s is not valid %s: %v", quote(str), s.format, err)
			return
		}
	}
	if s.ref != nil {
		vs.check(s.ref, v, path)
	}
	switch v := v.(type) {
	case map[string]any:
		vs.checkObject(s, v, path)
	case []any:
		if s.items != nil {
			for i, item := range v {
				vs.check(s.items, item, append(path, strconv.Itoa(i)))
			}
		}
	case string:
		vs.checkString(s, v, path)
	case json.Number:
		if s.minimum != nil && compareNumbers(parseNumber(v), parseNumber(*s.minimum)) < 0 {
			vs.add(path, "minimum: got %s, want %s", v, *s.minimum)
		}
	}
	for _, sub := range s.allOf {
		vs.check(sub, v, path)
	}
	if len(s.anyOf) > 0 {
		var failures violations
		for _, sub := range s.anyOf {
			found := of(sub, v, path)
			if len(found) == 0 {
				failures = nil
				break
			}
			failures = append(failures, found...)
		}
		*vs = append(*vs, failures...)
	}
	if s.ifSchema != nil && s.thenSchema != nil && len(of(s.ifSchema, v, path)) == 0 {
		vs.check(s.thenSchema, v, path)
	}
}

func (s *Schema) allowsType(t string, v any) bool {
	if slices.Contains(s.types, t) {
		return true
	}
	n, ok := v.(json.Number)
	return ok && slices.Contains(s.types, "integer") && parseNumber(n).isInteger()
}

func (vs *violations) checkObject(s *Schema, obj map[string]any, path []string) {
	var missing []string
	for _, name := range s.required {
		if _, ok := obj[name]; !ok {
			missing = append(missing, quote(name))
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		vs.add(path, "missing property %s", missing[0])
	default:
		vs.add(path, "missing properties %s", strings.Join(missing, ", "))
	}
	var additional []string
	for name, value := range obj {
		sub, ok := s.properties[name]
		if !ok {
			sub = s.additional
		}
		switch {
		case sub == nil:
		case !ok && sub.boolean != nil && !*sub.boolean:
			additional = append(additional, name)
		default:
			vs.check(sub, value, append(path, name))
		}
	}
	if len(additional) > 0 {
		slices.Sort(additional)
		for i, name := range additional {
			additional[i] = quote(name)
		}
		vs.add(path, "additional properties %s not allowed", strings.Join(additional, ", "))
	}
}

func (vs *violations) checkString(s *Schema, str string, path []string) {
	if s.minLength >= 0 || s.maxLength >= 0 {
		n := utf8.RuneCountInString(str)
		if s.minLength >= 0 && n < s.minLength {
			vs.add(path, "minLength: got %d, want %d", n, s.minLength)
		}
		if s.maxLength >= 0 && n > s.maxLength {
			vs.add(path, "maxLength: got %d, want %d", n, s.maxLength)
		}
	}
	if s.pattern != nil && !s.pattern.MatchString(str) {
		vs.add(path, "%s does not match pattern %s", quote(str), quote(s.pattern.String()))
	}
}

// mustBe says which values const or enum allow; a list holding arrays or objects is not
// spelled out.
func mustBe(allowed []any, keyword string) string {
	shown := make([]string, len(allowed))
	for i, a := range allowed {
		switch a.(type) {
		case []any, map[string]any:
			return fmt.Sprintf("'%s' failed", keyword)
		}
		shown[i] = display(a)
	}
	if len(shown) == 1 {
		return "value must be " + shown[0]
	}
	return "value must be one of " + strings.Join(shown, ", ")
}
