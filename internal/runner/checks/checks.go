// Package checks owns validationConfig: it resolves the level preset and flags into a Config
// and applies it to an executed notebook, producing findings. A finding with severity "error"
// fails the run; a "warning" is reported only (strictMode turns every warning into an error).
//
// The checks and what they mean:
//
//   - stderr: a code cell wrote to stderr. Error with failOnStderr, else warning. IPython's
//     "To exit: use 'exit', 'quit', or Ctrl-D." after sys.exit() does not count: under
//     papermill's rule that is how a notebook ends early.
//   - warnings: stderr holds a Python warning line ("file:line: SomeWarning: text").
//     Error with failOnWarnings, else warning.
//   - silentFailure (detectSilentFailures, on by default): a cell's result displays as
//     nan, NaN, None, <NA>, NaT or inf, or a cell that succeeded printed a traceback (an
//     exception was caught and printed instead of raised). Warning.
//   - assertions (verifyAssertions): no code cell contains an assert statement. Error.
//   - explicitResult (requireExplicitExitCodes): the last non-empty code cell has no result
//     (execute_result), so the notebook does not state its outcome. Error.
//   - expectedOutput (expectedOutputs): for each entry, the cell's result object (its last
//     expression, as kept in IPython's Out) must exist and satisfy shape ("rows,cols", -1 =
//     any), minValue/maxValue (float(result)) and notEmpty (len > 0); its type name (or
//     module-qualified name) must equal type when checkOutputTypes is on. Cell is the index
//     in the source notebook. Error.
//
// Level presets only switch checks on: learning (no extra checks, silent failures still
// reported), development (the default: same as learning), staging (+ failOnWarnings,
// verifyAssertions, checkOutputTypes), production (staging + strictMode, failOnStderr,
// requireExplicitExitCodes). Flags set to true add to the preset.
package checks

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/runner/notebook"
)

// Levels.
const (
	LevelLearning    = "learning"
	LevelDevelopment = "development"
	LevelStaging     = "staging"
	LevelProduction  = "production"
)

// Severities.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Config is a resolved validationConfig.
type Config struct {
	Level                    string
	Strict                   bool
	FailOnStderr             bool
	FailOnWarnings           bool
	DetectSilentFailures     bool
	RequireExplicitExitCodes bool
	CheckOutputTypes         bool
	VerifyAssertions         bool
	ExpectedOutputs          []v1alpha1.ExpectedOutputSpec
}

// FromSpec resolves spec (nil allowed) against its level preset.
func FromSpec(spec *v1alpha1.ValidationConfigSpec) (Config, error) {
	c := Config{Level: LevelDevelopment, DetectSilentFailures: true}
	if spec == nil {
		return c, nil
	}
	if spec.Level != "" {
		c.Level = spec.Level
	}
	switch c.Level {
	case LevelLearning, LevelDevelopment:
	case LevelProduction:
		c.Strict, c.FailOnStderr, c.RequireExplicitExitCodes = true, true, true
		fallthrough
	case LevelStaging:
		c.FailOnWarnings, c.VerifyAssertions, c.CheckOutputTypes = true, true, true
	default:
		return c, fmt.Errorf("validation level %q is not learning, development, staging or production", c.Level)
	}
	c.Strict = c.Strict || spec.StrictMode
	c.FailOnStderr = c.FailOnStderr || spec.FailOnStderr
	c.FailOnWarnings = c.FailOnWarnings || spec.FailOnWarnings
	c.RequireExplicitExitCodes = c.RequireExplicitExitCodes || spec.RequireExplicitExitCodes
	c.CheckOutputTypes = c.CheckOutputTypes || spec.CheckOutputTypes
	c.VerifyAssertions = c.VerifyAssertions || spec.VerifyAssertions
	if spec.DetectSilentFailures != nil {
		c.DetectSilentFailures = *spec.DetectSilentFailures
	}
	for _, e := range spec.ExpectedOutputs {
		if e.Shape != "" {
			if _, err := parseShape(e.Shape); err != nil {
				return c, fmt.Errorf("expectedOutputs cell %d: %w", e.Cell, err)
			}
		}
	}
	c.ExpectedOutputs = slices.Clone(spec.ExpectedOutputs)
	return c, nil
}

// Finding is one check result. Cell is the executed notebook's cell index, -1 for the whole
// notebook.
type Finding struct {
	Cell     int    `json:"cell"`
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// Input is what the checks look at.
type Input struct {
	Notebook *notebook.Notebook // executed
	// Ran holds the executed-notebook indexes of code cells that ran (successfully or not).
	Ran map[int]bool
	// Probes and ProbeErrs hold result-object probes by executed-notebook index.
	Probes    map[int]execute.Probe
	ProbeErrs map[int]string
	// SourceToExecuted maps a source-notebook cell index to the executed notebook's
	// (they differ by one after an injected-parameters cell).
	SourceToExecuted func(int) int
}

// ProbeCells returns the executed-notebook indexes whose result objects the checks need.
func (c Config) ProbeCells(sourceToExecuted func(int) int) []int {
	var out []int
	for _, e := range c.ExpectedOutputs {
		out = append(out, sourceToExecuted(e.Cell))
	}
	return out
}

var (
	warningLine = regexp.MustCompile(`(?m)^.*:\d+: [A-Za-z_][A-Za-z0-9_]*Warning: .*$`)
	assertStmt  = regexp.MustCompile(`(?m)^\s*assert\b`)
	// exitWarning is what IPython prints to stderr when a cell calls sys.exit().
	exitWarning = regexp.MustCompile(`[^\n]*UserWarning: To exit: use 'exit', 'quit', or Ctrl-D\.\n([ \t]+warn\([^\n]*\n)?`)
	silentValue = map[string]bool{"nan": true, "NaN": true, "None": true, "<NA>": true, "NaT": true, "inf": true, "-inf": true}
)

// Run applies the checks.
func (c Config) Run(in Input) []Finding {
	var out []Finding
	add := func(cell int, check string, failing bool, msg string) {
		sev := SeverityWarning
		if failing || c.Strict {
			sev = SeverityError
		}
		out = append(out, Finding{Cell: cell, Check: check, Severity: sev, Message: msg})
	}
	lastResultCell, lastHasResult := -1, false
	hasAssert := false
	for i, cell := range in.Notebook.Cells {
		if cell.CellType != "code" {
			continue
		}
		if assertStmt.MatchString(string(cell.Source)) {
			hasAssert = true
		}
		if !in.Ran[i] {
			continue
		}
		var stderr, stdout strings.Builder
		var failed bool
		var result string
		hasResult := false
		for _, o := range cell.Outputs {
			switch o.OutputType {
			case "stream":
				if o.Name == "stderr" {
					stderr.WriteString(string(o.Text))
				} else {
					stdout.WriteString(string(o.Text))
				}
			case "error":
				failed = true
			case "execute_result":
				hasResult = true
				result = strings.TrimSpace(o.Data["text/plain"])
			}
		}
		if strings.TrimSpace(string(cell.Source)) != "" {
			lastResultCell, lastHasResult = i, hasResult
		}
		if s := exitWarning.ReplaceAllString(stderr.String(), ""); s != "" {
			add(i, "stderr", c.FailOnStderr, fmt.Sprintf("cell %d wrote to stderr: %s", i, firstLine(s)))
			if w := warningLine.FindString(s); w != "" {
				add(i, "warnings", c.FailOnWarnings, fmt.Sprintf("cell %d raised a warning: %s", i, clip(strings.TrimSpace(w))))
			}
		}
		if c.DetectSilentFailures && !failed {
			if hasResult && silentValue[result] {
				add(i, "silentFailure", false, fmt.Sprintf("cell %d evaluated to %s", i, result))
			}
			if strings.Contains(stdout.String()+stderr.String(), "Traceback (most recent call last)") {
				add(i, "silentFailure", false, fmt.Sprintf("cell %d printed a traceback but did not fail", i))
			}
		}
	}
	if c.VerifyAssertions && !hasAssert {
		add(-1, "assertions", true, "no code cell contains an assert statement (verifyAssertions)")
	}
	if c.RequireExplicitExitCodes && lastResultCell >= 0 && !lastHasResult {
		add(lastResultCell, "explicitResult", true, fmt.Sprintf("the last code cell (%d) does not end in a result (requireExplicitExitCodes)", lastResultCell))
	}
	for _, e := range c.ExpectedOutputs {
		if msg := c.expected(in, e); msg != "" {
			out = append(out, Finding{Cell: in.SourceToExecuted(e.Cell), Check: "expectedOutput", Severity: SeverityError, Message: msg})
		}
	}
	return out
}

// expected checks one expectedOutputs entry and returns what is wrong, or "".
func (c Config) expected(in Input, e v1alpha1.ExpectedOutputSpec) string {
	i := in.SourceToExecuted(e.Cell)
	if i < 0 || i >= len(in.Notebook.Cells) || in.Notebook.Cells[i].CellType != "code" {
		return fmt.Sprintf("expected output for cell %d: there is no such code cell", e.Cell)
	}
	if !in.Ran[i] {
		return fmt.Sprintf("expected output for cell %d: the cell did not run", e.Cell)
	}
	p, ok := in.Probes[i]
	if !ok {
		if msg := in.ProbeErrs[i]; msg != "" {
			return fmt.Sprintf("expected output for cell %d: could not inspect its result: %s", e.Cell, msg)
		}
		return fmt.Sprintf("expected output for cell %d: the cell did not complete", e.Cell)
	}
	if !p.Has {
		return fmt.Sprintf("expected output for cell %d: the cell produced no result", e.Cell)
	}
	if c.CheckOutputTypes && e.Type != "" && e.Type != p.Type && e.Type != p.QualType {
		return fmt.Sprintf("expected output for cell %d: result is a %s, want %s", e.Cell, p.QualType, e.Type)
	}
	if e.Shape != "" {
		want, _ := parseShape(e.Shape)
		if !shapeMatches(want, p.Shape) {
			return fmt.Sprintf("expected output for cell %d: result has shape %v, want (%s)", e.Cell, p.Shape, e.Shape)
		}
	}
	if e.MinValue != "" || e.MaxValue != "" {
		v, err := strconv.ParseFloat(strings.Trim(string(p.Number), `"`), 64)
		if len(p.Number) == 0 || err != nil {
			return fmt.Sprintf("expected output for cell %d: result (%s) is not a number", e.Cell, p.Type)
		}
		if lo, err := strconv.ParseFloat(e.MinValue, 64); e.MinValue != "" && (err != nil || !(v >= lo)) {
			return fmt.Sprintf("expected output for cell %d: result %v is below minValue %s", e.Cell, v, e.MinValue)
		}
		if hi, err := strconv.ParseFloat(e.MaxValue, 64); e.MaxValue != "" && (err != nil || !(v <= hi)) {
			return fmt.Sprintf("expected output for cell %d: result %v is above maxValue %s", e.Cell, v, e.MaxValue)
		}
	}
	if e.NotEmpty && p.Len != nil && *p.Len == 0 {
		return fmt.Sprintf("expected output for cell %d: result is empty", e.Cell)
	}
	return ""
}

func parseShape(s string) ([]int, error) {
	var dims []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < -1 {
			return nil, fmt.Errorf("shape %q is not a comma-separated list of sizes (-1 = any)", s)
		}
		dims = append(dims, n)
	}
	return dims, nil
}

func shapeMatches(want, got []int) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] != -1 && want[i] != got[i] {
			return false
		}
	}
	return true
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return clip(s)
}

func clip(s string) string {
	if len(s) <= 200 {
		return s
	}
	n := 200
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
