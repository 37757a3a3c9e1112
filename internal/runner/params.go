package runner

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// pythonWords are the values papermill's -p reads as Python's constants, not as strings.
var pythonWords = map[string]json.RawMessage{"True": json.RawMessage("true"), "False": json.RawMessage("false"), "None": json.RawMessage("null")}

// ParseParam parses a command-line parameter "name=value". A value that is valid JSON
// (42, 0.5, true, null, "x", [1,2], {"a":1}) keeps its type, and True, False and None are
// Python's, as papermill's -p reads them; anything else is a string.
func ParseParam(s string) (string, json.RawMessage, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return "", nil, fmt.Errorf("parameter %q is not name=value", s)
	}
	if v, ok := pythonWords[value]; ok {
		return name, v, nil
	}
	if json.Valid([]byte(value)) && strings.TrimSpace(value) != "" {
		return name, json.RawMessage(value), nil
	}
	b, err := json.Marshal(value)
	if err != nil {
		return "", nil, fmt.Errorf("parameter %s: %w", name, err)
	}
	return name, b, nil
}

// ParamFlag collects repeated -p name=value flags (flag.Value).
type ParamFlag map[string]json.RawMessage

func (p ParamFlag) String() string {
	parts := make([]string, 0, len(p))
	for k, v := range p {
		parts = append(parts, k+"="+string(v))
	}
	return strings.Join(parts, " ")
}

// Set adds one parameter.
func (p ParamFlag) Set(s string) error {
	name, v, err := ParseParam(s)
	if err != nil {
		return err
	}
	p[name] = v
	return nil
}

// WorkspacePaths returns where Prepare put the notebook and golden notebook of spec
// (golden is empty when the spec has none).
func WorkspacePaths(workspace string, spec *v1alpha1.NotebookValidationJobSpec) (nb, golden string) {
	nb = filepath.Join(workspace, NotebookRepoDir, spec.Notebook.Path)
	if g := spec.GoldenNotebook; g != nil {
		dir := GoldenRepoDir
		if g.Git.URL == spec.Notebook.Git.URL && g.Git.Ref == spec.Notebook.Git.Ref {
			dir = NotebookRepoDir
		}
		golden = filepath.Join(workspace, dir, g.Path)
	}
	return nb, golden
}
