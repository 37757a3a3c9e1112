package notebook

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tags that drive parameter injection, named as papermill names them so notebooks written for
// papermill work unchanged.
const (
	TagParameters         = "parameters"
	TagInjectedParameters = "injected-parameters"
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// InjectParameters returns the notebook src with a new code cell tagged injected-parameters
// that assigns params (JSON values rendered as Python literals). The cell goes right after the
// first cell tagged parameters, or first when none is tagged. Cells injected by an earlier run
// are removed. Fields the runner does not model are kept as they are. It also returns the index
// of the new cell. With no params, src is returned unchanged and the index is -1.
func InjectParameters(src []byte, params map[string]json.RawMessage) ([]byte, int, error) {
	if len(params) == 0 {
		return src, -1, nil
	}
	names := make([]string, 0, len(params))
	for name := range params {
		if !identifier.MatchString(name) {
			return nil, -1, fmt.Errorf("parameter name %q is not a Python identifier", name)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var code strings.Builder
	code.WriteString("# Parameters\n")
	for _, name := range names {
		lit, err := PythonLiteral(params[name])
		if err != nil {
			return nil, -1, fmt.Errorf("parameter %s: %w", name, err)
		}
		fmt.Fprintf(&code, "%s = %s\n", name, lit)
	}

	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber() // keep numbers in metadata and outputs exactly as written
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, -1, fmt.Errorf("%w: invalid JSON: %v", ErrNotANotebook, err)
	}
	if isVersion(doc["nbformat"], 3) {
		if err := upgradeV3(doc); err != nil {
			return nil, -1, err
		}
	}
	rawCells, ok := doc["cells"].([]any)
	if !ok {
		return nil, -1, fmt.Errorf("%w: no cells list", ErrNotANotebook)
	}
	cells := make([]any, 0, len(rawCells)+1)
	at := 0
	for _, c := range rawCells {
		tags := cellTags(c)
		if slices.Contains(tags, TagInjectedParameters) {
			continue
		}
		cells = append(cells, c)
		if at == 0 && slices.Contains(tags, TagParameters) {
			at = len(cells)
		}
	}
	cell := map[string]any{
		"cell_type":       "code",
		"execution_count": nil,
		"metadata":        map[string]any{"tags": []string{TagInjectedParameters}},
		"outputs":         []any{},
		"source":          code.String(),
	}
	// nbformat_minor may be missing or not a number in a notebook Parse accepts: no cell ids then.
	if minor, ok := doc["nbformat_minor"].(json.Number); ok && minorAtLeast(minor, 5) {
		cell["id"] = newCellID()
	}
	cells = slices.Insert(cells, at, any(cell))
	doc["cells"] = cells
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, -1, fmt.Errorf("encode notebook with parameters: %w", err)
	}
	return out, at, nil
}

func minorAtLeast(n json.Number, min int64) bool {
	v, err := n.Int64()
	return err == nil && v >= min
}

func cellTags(c any) []string {
	m, _ := c.(map[string]any)
	meta, _ := m["metadata"].(map[string]any)
	raw, _ := meta["tags"].([]any)
	tags := make([]string, 0, len(raw))
	for _, t := range raw {
		if s, ok := t.(string); ok {
			tags = append(tags, s)
		}
	}
	return tags
}

func newCellID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// PythonLiteral renders a JSON value as the Python literal of the same value: null -> None,
// true/false -> True/False, numbers as written, strings as escaped literals, arrays as lists
// and objects as dicts.
func PythonLiteral(raw json.RawMessage) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("value is not JSON: %w", err)
	}
	var b strings.Builder
	writeLiteral(&b, v)
	return b.String(), nil
}

func writeLiteral(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case json.Number:
		b.WriteString(v.String())
	case string:
		writeString(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeLiteral(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeString(b, k)
			b.WriteString(": ")
			writeLiteral(b, v[k])
		}
		b.WriteByte('}')
	}
}

// writeString writes a double-quoted Python str literal. Printable characters stay as they
// are (Python 3 source is UTF-8); everything else is escaped so the cell stays one statement.
func writeString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError || !unicode.IsPrint(r):
			if r <= 0xFFFF {
				b.WriteString(`\u` + leftPad(strconv.FormatInt(int64(r), 16), 4))
			} else {
				b.WriteString(`\U` + leftPad(strconv.FormatInt(int64(r), 16), 8))
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

func leftPad(s string, n int) string {
	return strings.Repeat("0", max(0, n-len(s))) + s
}
