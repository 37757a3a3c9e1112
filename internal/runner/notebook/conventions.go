package notebook

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The notebook-testing ecosystem's markers, with the meaning nbval, nbmake and nbclient give
// them. nbval reads comment lines ("# NBVAL_SKIP") and cell tags ("nbval-skip"); where both set
// the same option the comment wins, and among several the last one wins, as in nbval.
const (
	TagSkipExecution   = "skip-execution"   // nbclient/nbmake: the cell is not run
	TagRaisesException = "raises-exception" // nbclient/nbmake/nbval: an error is expected
)

// option is what a marker sets: nbval's "check", "check_exception" and "skip".
type option int

const (
	optCheck option = iota
	optRaises
	optSkip
)

type marker struct {
	opt option
	on  bool
}

var commentMarkers = map[string]marker{
	"NBVAL_IGNORE_OUTPUT":           {optCheck, false},
	"PYTEST_VALIDATE_IGNORE_OUTPUT": {optCheck, false},
	"NBVAL_CHECK_OUTPUT":            {optCheck, true},
	"NBVAL_RAISES_EXCEPTION":        {optRaises, true},
	"NBVAL_SKIP":                    {optSkip, true},
}

var tagMarkers = map[string]marker{
	"nbval-ignore-output":           {optCheck, false},
	"pytest-validate-ignore-output": {optCheck, false},
	"nbval-check-output":            {optCheck, true},
	"nbval-raises-exception":        {optRaises, true},
	TagRaisesException:              {optRaises, true},
	"nbval-skip":                    {optSkip, true},
	TagSkipExecution:                {optSkip, true},
}

// Directives is what a code cell's markers and metadata ask of the runner.
type Directives struct {
	// Skip names the marker that keeps the cell from running; empty: the cell runs.
	Skip string
	// Compare is false when the cell's outputs are left out of the golden comparison
	// (NBVAL_IGNORE_OUTPUT); NBVAL_CHECK_OUTPUT sets it back to true.
	Compare bool
	// IgnoredBy names the marker that set Compare to false.
	IgnoredBy string
	// RaisesException names the marker under which an exception is expected, not a failure.
	RaisesException string
	// After is code run in the kernel after the cell succeeded (nbmake's mock, then
	// post_cell_execute); its failure fails the cell.
	After []Snippet
}

// Snippet is code the runner runs on the notebook's behalf, named by where it comes from.
type Snippet struct {
	From string `json:"from"`
	Code string `json:"code"`
}

// Directives reads the cell's nbval markers (comments and tags), the nbclient tags and nbmake's
// cell metadata. It fails only on nbmake metadata of the wrong shape.
func (c Cell) Directives() (Directives, error) {
	d := Directives{Compare: true}
	set := func(m marker, name string) {
		switch m.opt {
		case optCheck:
			d.Compare, d.IgnoredBy = m.on, ""
			if !m.on {
				d.IgnoredBy = name
			}
		case optRaises:
			d.RaisesException = name
		case optSkip:
			d.Skip = name
		}
	}
	for _, tag := range c.Metadata.Tags {
		if m, ok := tagMarkers[tag]; ok {
			set(m, "tag "+tag)
		}
	}
	for _, line := range strings.Split(string(c.Source), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#") {
			continue
		}
		name := strings.TrimSpace(strings.TrimLeft(line, "#"))
		if m, ok := commentMarkers[name]; ok {
			set(m, "# "+name)
		}
	}
	if len(c.Metadata.NBMake) == 0 || string(c.Metadata.NBMake) == "null" {
		return d, nil
	}
	var nbm struct {
		Mock            map[string]json.RawMessage `json:"mock"`
		PostCellExecute []string                   `json:"post_cell_execute"`
	}
	if err := json.Unmarshal(c.Metadata.NBMake, &nbm); err != nil {
		return d, fmt.Errorf("metadata.nbmake must be an object with mock (an object) and post_cell_execute (a list of strings): %v", err)
	}
	if len(nbm.Mock) > 0 {
		targets := make([]string, 0, len(nbm.Mock))
		for t := range nbm.Mock {
			targets = append(targets, t)
		}
		slices.Sort(targets)
		var code strings.Builder
		for _, t := range targets {
			if strings.TrimSpace(t) == "" || strings.ContainsAny(t, "\n\r;=") {
				return d, fmt.Errorf("metadata.nbmake.mock: %q is not an assignment target", t)
			}
			lit, err := PythonLiteral(nbm.Mock[t])
			if err != nil {
				return d, fmt.Errorf("metadata.nbmake.mock.%s: %w", t, err)
			}
			fmt.Fprintf(&code, "%s = %s\n", t, lit)
		}
		d.After = append(d.After, Snippet{From: "nbmake.mock", Code: code.String()})
	}
	if len(nbm.PostCellExecute) > 0 {
		d.After = append(d.After, Snippet{From: "nbmake.post_cell_execute", Code: strings.Join(nbm.PostCellExecute, "\n")})
	}
	return d, nil
}

// ExecutionSettings are nbmake's notebook-level settings, metadata.execution.
type ExecutionSettings struct {
	// Timeout bounds each cell; HasTimeout is false when the notebook sets none. A set
	// Timeout of zero means no limit (nbclient's -1 or null).
	Timeout    time.Duration
	HasTimeout bool
	// AllowErrors lets cells raise without failing the notebook.
	AllowErrors bool
}

// ExecutionSettings reads metadata.execution.timeout (seconds; -1 or null: no limit) and
// metadata.execution.allow_errors.
func (nb *Notebook) ExecutionSettings() (ExecutionSettings, error) {
	var s ExecutionSettings
	raw := nb.Metadata.Execution
	if len(raw) == 0 || string(raw) == "null" {
		return s, nil
	}
	var ex struct {
		Timeout     json.RawMessage `json:"timeout"`
		AllowErrors *bool           `json:"allow_errors"`
	}
	if err := json.Unmarshal(raw, &ex); err != nil {
		return s, fmt.Errorf("metadata.execution must be an object with timeout (seconds) and allow_errors (a boolean): %v", err)
	}
	if ex.AllowErrors != nil {
		s.AllowErrors = *ex.AllowErrors
	}
	if len(ex.Timeout) > 0 {
		s.HasTimeout = true
		if string(ex.Timeout) != "null" {
			var sec float64
			if err := json.Unmarshal(ex.Timeout, &sec); err != nil || math.IsNaN(sec) {
				return s, fmt.Errorf("metadata.execution.timeout %s is not a number of seconds", ex.Timeout)
			}
			if sec > 0 {
				s.Timeout = time.Duration(sec * float64(time.Second))
			}
		}
	}
	return s, nil
}
