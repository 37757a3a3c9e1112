// Package notebook owns the Jupyter notebook model the runner reads (nbformat 4, and nbformat 3
// upgraded to 4): parsing with a clear "not a notebook" error, multiline text fields, cell tags,
// outputs, and papermill-style parameter injection that rewrites a notebook while keeping
// every field it does not know.
package notebook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
)

// ErrNotANotebook is wrapped by Parse when the input is not an nbformat 4 notebook.
var ErrNotANotebook = errors.New("not a Jupyter notebook")

// Notebook is the part of an nbformat 4 document the runner inspects.
type Notebook struct {
	NBFormat      int      `json:"nbformat"`
	NBFormatMinor int      `json:"nbformat_minor"`
	Metadata      Metadata `json:"metadata"`
	Cells         []Cell   `json:"cells"`
}

// Metadata is the notebook-level metadata the runner uses.
type Metadata struct {
	KernelSpec struct {
		Name string `json:"name"`
	} `json:"kernelspec"`
	// Execution is nbmake's metadata.execution (see ExecutionSettings).
	Execution json.RawMessage `json:"execution,omitempty"`
}

// Cell is one notebook cell.
type Cell struct {
	ID             string   `json:"id,omitempty"`
	CellType       string   `json:"cell_type"`
	Source         Text     `json:"source"`
	Metadata       CellMeta `json:"metadata"`
	ExecutionCount *int     `json:"execution_count,omitempty"`
	Outputs        []Output `json:"outputs,omitempty"`
}

// CellMeta is the cell metadata the runner uses.
type CellMeta struct {
	Tags []string `json:"tags,omitempty"`
	// NBMake is nbmake's cell metadata (see Directives).
	NBMake json.RawMessage `json:"nbmake,omitempty"`
}

// HasTag reports whether the cell carries tag.
func (c Cell) HasTag(tag string) bool {
	for _, t := range c.Metadata.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// NeverRan reports whether the cell was never executed: no execution count and no outputs,
// as a cell of a notebook saved without running it.
func (c Cell) NeverRan() bool {
	return c.ExecutionCount == nil && len(c.Outputs) == 0
}

// Output is one cell output. Data maps MIME types to their content: text types are decoded
// to strings, others (JSON, images) are kept as their raw JSON text.
type Output struct {
	OutputType     string            `json:"output_type"`
	Name           string            `json:"name,omitempty"` // stream: stdout | stderr
	Text           Text              `json:"text,omitempty"`
	Data           map[string]string `json:"-"`
	ExecutionCount *int              `json:"execution_count,omitempty"`
	EName          string            `json:"ename,omitempty"`
	EValue         string            `json:"evalue,omitempty"`
	Traceback      []string          `json:"traceback,omitempty"`
}

// UnmarshalJSON decodes an output, flattening each MIME bundle entry to a string.
func (o *Output) UnmarshalJSON(b []byte) error {
	type plain Output
	var aux struct {
		plain
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*o = Output(aux.plain)
	if len(aux.Data) > 0 {
		o.Data = make(map[string]string, len(aux.Data))
		for mime, raw := range aux.Data {
			var t Text
			if err := json.Unmarshal(raw, &t); err == nil {
				o.Data[mime] = string(t)
			} else {
				o.Data[mime] = string(raw)
			}
		}
	}
	return nil
}

// Text is an nbformat multiline string: on disk either a string or a list of strings that are
// concatenated (each already ends in its newline).
type Text string

// UnmarshalJSON accepts both forms.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var parts []string
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		*t = Text(strings.Join(parts, ""))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = Text(s)
	return nil
}

// Parse decodes an nbformat 4 notebook, or an nbformat 3 one upgraded to 4 as nbformat does.
// Any input that is not one wraps ErrNotANotebook.
func Parse(b []byte) (*Notebook, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: invalid JSON: %v", ErrNotANotebook, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: invalid JSON: data after the notebook object", ErrNotANotebook)
	}
	probe, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrNotANotebook)
	}
	if isVersion(probe["nbformat"], 3) {
		if err := upgradeV3(probe); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"nbformat", "cells"} {
		if _, ok := probe[k]; !ok {
			return nil, fmt.Errorf("%w: no %q field", ErrNotANotebook, k)
		}
	}
	dropFoldedKeys(doc, reflect.TypeFor[Notebook]())
	exact, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotANotebook, err)
	}
	var nb Notebook
	if err := json.Unmarshal(exact, &nb); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotANotebook, err)
	}
	if nb.NBFormat != 4 {
		return nil, fmt.Errorf("%w: nbformat %d (nbformat 3 and 4 are read)", ErrNotANotebook, nb.NBFormat)
	}
	for i, c := range nb.Cells {
		switch c.CellType {
		case "code", "markdown", "raw":
		default:
			return nil, fmt.Errorf("%w: cell %d has cell_type %q", ErrNotANotebook, i, c.CellType)
		}
	}
	return &nb, nil
}

// ReadFile reads and parses the notebook at path.
func ReadFile(path string) (*Notebook, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read notebook: %w", err)
	}
	nb, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nb, nil
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)`)

// StripANSI removes terminal colour and control sequences, which tracebacks may still carry.
func StripANSI(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	return ansi.ReplaceAllString(s, "")
}
