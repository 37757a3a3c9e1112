// Package report owns the outputs of one run: the full report (JSON), its compact form for the
// termination message (internal/runner/summary), a JUnit XML rendering for CI systems, and the
// human-readable text that `nbv validate` prints.
package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mlops-dev/nbv/internal/runner/checks"
	"github.com/mlops-dev/nbv/internal/runner/compare"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// MaxStreamBytes caps each cell's stdout and stderr in the report; the executed notebook
// keeps everything.
const MaxStreamBytes = 64 << 10

// Report is the full outcome of one run.
type Report struct {
	Notebook         string                     `json:"notebook"`
	Golden           string                     `json:"golden,omitempty"`
	ExecutedNotebook string                     `json:"executedNotebook,omitempty"`
	Python           string                     `json:"python,omitempty"`
	PythonVersion    string                     `json:"pythonVersion,omitempty"`
	NBClient         string                     `json:"nbclientVersion,omitempty"`
	Kernel           string                     `json:"kernel,omitempty"`
	Parameters       map[string]json.RawMessage `json:"parameters,omitempty"`
	StartedAt        time.Time                  `json:"startedAt"`
	DurationMs       int64                      `json:"durationMs"`
	KernelStartupMs  int64                      `json:"kernelStartupMs,omitempty"`
	Result           string                     `json:"result"`
	Reason           string                     `json:"reason"`
	Message          string                     `json:"message"`
	Counts           summary.Counts             `json:"cells"`
	Cells            []Cell                     `json:"cellResults,omitempty"`
	Findings         []checks.Finding           `json:"findings,omitempty"`
	Comparison       *Comparison                `json:"comparison,omitempty"`
	// ExitedEarly is the cell whose clean SystemExit ended the notebook (papermill's rule).
	ExitedEarly *EarlyExit `json:"exitedEarly,omitempty"`
}

// EarlyExit is a notebook that stopped itself with sys.exit(), sys.exit(0) or SystemExit.
type EarlyExit struct {
	Cell int    `json:"cell"`
	Code string `json:"code,omitempty"`
}

// Cell is one code cell's outcome. Index counts all cells of the executed notebook.
type Cell struct {
	Index           int        `json:"index"`
	Status          string     `json:"status"` // summary.CellSuccess | CellFailure | CellSkipped
	TimedOut        bool       `json:"timedOut,omitempty"`
	Injected        bool       `json:"injectedParameters,omitempty"`
	DurationMs      int64      `json:"durationMs"`
	Source          string     `json:"source"`
	Stdout          string     `json:"stdout,omitempty"`
	Stderr          string     `json:"stderr,omitempty"`
	StreamTruncated bool       `json:"streamTruncated,omitempty"`
	Error           *CellError `json:"error,omitempty"`
	SkipReason      string     `json:"skipReason,omitempty"`
	// AllowedError is an exception the cell raised that a marker allowed (raises-exception,
	// NBVAL_RAISES_EXCEPTION, nbmake's allow_errors): the cell still succeeded.
	AllowedError *CellError `json:"allowedError,omitempty"`
}

// CellError is the exception a cell raised, traceback without ANSI sequences.
type CellError struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Traceback string `json:"traceback,omitempty"`
	// From names the code run after the cell that raised (nbmake.mock,
	// nbmake.post_cell_execute); empty: the cell itself.
	From string `json:"from,omitempty"`
	// AllowedBy names the marker that allowed the error.
	AllowedBy string `json:"allowedBy,omitempty"`
}

// Comparison is the golden comparison in the report.
type Comparison struct {
	Strategy   string         `json:"strategy"`
	Tolerance  float64        `json:"tolerance"`
	Result     string         `json:"result"` // matched | failed | skipped
	Total      int            `json:"total"`
	Matched    int            `json:"matched"`
	Mismatched int            `json:"mismatched"`
	Diffs      []compare.Diff `json:"diffs,omitempty"`
	// NotCompared are code cells left out, with why (never ran in the golden notebook,
	// nbval markers).
	NotCompared []compare.NotCompared `json:"notCompared,omitempty"`
}

// Comparison results.
const (
	ComparisonMatched = "matched"
	ComparisonFailed  = "failed"
	ComparisonSkipped = "skipped"
)

// Clip shortens a stream to MaxStreamBytes on a UTF-8 boundary, reporting whether it did.
func Clip(s string) (string, bool) {
	if len(s) <= MaxStreamBytes {
		return s, false
	}
	n := MaxStreamBytes
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n], true
}

// Errors returns the findings that fail the run.
func (r *Report) Errors() []checks.Finding {
	var out []checks.Finding
	for _, f := range r.Findings {
		if f.Severity == checks.SeverityError {
			out = append(out, f)
		}
	}
	return out
}

// FirstFailure is the first failing cell, if any.
func (r *Report) FirstFailure() *Cell {
	for i := range r.Cells {
		if r.Cells[i].Status == summary.CellFailure {
			return &r.Cells[i]
		}
	}
	return nil
}

// Decide sets Result, Reason and Message from cells, findings and comparison, in that order
// of precedence: a failing cell explains everything after it.
func (r *Report) Decide() {
	r.Counts = summary.Counts{}
	for _, c := range r.Cells {
		r.Counts.Total++
		switch c.Status {
		case summary.CellSuccess:
			r.Counts.Passed++
		case summary.CellFailure:
			r.Counts.Failed++
		case summary.CellSkipped:
			r.Counts.Skipped++
		}
	}
	r.Result, r.Reason = summary.ResultFailed, ""
	if f := r.FirstFailure(); f != nil {
		if f.TimedOut {
			r.Reason = summary.ReasonCellTimeout
			r.Message = fmt.Sprintf("cell %d timed out: %s", f.Index, f.Error.Value)
		} else {
			r.Reason = summary.ReasonCellFailed
			r.Message = fmt.Sprintf("cell %d failed: %s", f.Index, f.errorText())
		}
		return
	}
	if errs := r.Errors(); len(errs) > 0 {
		r.Reason = summary.ReasonCheckFailed
		r.Message = errs[0].Message
		if len(errs) > 1 {
			r.Message += fmt.Sprintf(" (and %d more failed checks)", len(errs)-1)
		}
		return
	}
	if r.Comparison != nil && r.Comparison.Result == ComparisonFailed {
		r.Reason = summary.ReasonGoldenMismatch
		d := r.Comparison.Diffs[0]
		r.Message = fmt.Sprintf("%d of %d cells differ from the golden notebook; first: %s", r.Comparison.Mismatched, r.Comparison.Total, d.Message)
		return
	}
	r.Result, r.Reason = summary.ResultPassed, summary.ReasonPassed
	r.Message = fmt.Sprintf("%d code cells passed", r.Counts.Passed)
	if e := r.ExitedEarly; e != nil {
		r.Message += fmt.Sprintf("; the notebook exited early in cell %d (SystemExit", e.Cell)
		if e.Code != "" {
			r.Message += " " + e.Code
		}
		r.Message += fmt.Sprintf("), %d later code cells skipped", r.Counts.Skipped)
	}
	if r.Comparison != nil && r.Comparison.Result == ComparisonMatched {
		r.Message += "; outputs match the golden notebook"
	}
}

func (c *Cell) errorText() string {
	if c.Error == nil {
		return ""
	}
	return c.Error.text()
}

func (e *CellError) text() string {
	s := e.Name
	if e.Value != "" {
		s += ": " + e.Value
	}
	if e.From != "" {
		s += " (in " + e.From + ")"
	}
	return s
}

// Summary is the compact form for the termination message.
func (r *Report) Summary() summary.Summary {
	s := summary.Summary{Result: r.Result, Reason: r.Reason, Message: r.Message, DurationMs: r.DurationMs, Cells: r.Counts}
	for _, c := range r.Cells {
		sc := summary.Cell{Index: c.Index, Status: c.Status, DurationMs: c.DurationMs, Error: c.errorText()}
		s.Results = append(s.Results, sc)
		if c.Status == summary.CellFailure && s.FirstFailure == nil {
			ff := sc
			if c.Error != nil {
				ff.Traceback = summary.TracebackTail(c.Error.Traceback, summary.MaxTraceback)
			}
			s.FirstFailure = &ff
		}
	}
	if s.FirstFailure == nil {
		// A failed check is the first failure when no cell failed.
		if errs := r.Errors(); len(errs) > 0 {
			s.FirstFailure = &summary.Cell{Index: max(errs[0].Cell, 0), Status: summary.CellFailure, Error: errs[0].Check + ": " + errs[0].Message}
		}
	}
	if c := r.Comparison; c != nil {
		sc := &summary.Comparison{Strategy: c.Strategy, Result: c.Result, Total: c.Total, Matched: c.Matched, Mismatched: c.Mismatched}
		for _, d := range c.Diffs {
			sc.Diffs = append(sc.Diffs, summary.Diff{Index: d.Index, CellType: d.CellType, DiffType: d.DiffType, Severity: d.Severity, Expected: d.Expected, Actual: d.Actual})
		}
		s.Comparison = sc
	}
	return s
}

// ErrorSummary is the summary of a run that could not happen (infrastructure error).
func ErrorSummary(reason, message string) summary.Summary {
	return summary.Summary{Result: summary.ResultError, Reason: reason, Message: message}
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
	SystemErr string        `xml:"system-err,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }

// WriteJUnit renders the report as JUnit XML: one test case per code cell, one for the checks
// and one for the golden comparison when there is one.
func (r *Report) WriteJUnit(w io.Writer) error {
	s := junitSuite{Name: r.Notebook, Time: seconds(r.DurationMs)}
	if !r.StartedAt.IsZero() {
		s.Timestamp = r.StartedAt.UTC().Format(time.RFC3339)
	}
	for _, c := range r.Cells {
		tc := junitCase{Name: fmt.Sprintf("cell %d", c.Index), ClassName: r.Notebook, Time: seconds(c.DurationMs),
			SystemOut: xmlSafe(c.Stdout), SystemErr: xmlSafe(c.Stderr)}
		switch c.Status {
		case summary.CellFailure:
			typ := c.Error.Name
			tc.Failure = &junitProblem{Message: xmlSafe(c.errorText()), Type: typ, Text: xmlSafe(c.Error.Traceback)}
			s.Failures++
		case summary.CellSkipped:
			tc.Skipped = &junitProblem{Message: c.SkipReason}
			s.Skipped++
		}
		s.Cases = append(s.Cases, tc)
	}
	checksCase := junitCase{Name: "validation checks", ClassName: r.Notebook, Time: "0.000"}
	if errs := r.Errors(); len(errs) > 0 {
		var text strings.Builder
		for _, f := range errs {
			fmt.Fprintf(&text, "%s (cell %d): %s\n", f.Check, f.Cell, f.Message)
		}
		checksCase.Failure = &junitProblem{Message: xmlSafe(errs[0].Message), Type: "CheckFailed", Text: xmlSafe(text.String())}
		s.Failures++
	}
	s.Cases = append(s.Cases, checksCase)
	if c := r.Comparison; c != nil {
		tc := junitCase{Name: "golden comparison", ClassName: r.Notebook, Time: "0.000"}
		switch c.Result {
		case ComparisonFailed:
			var text strings.Builder
			for _, d := range c.Diffs {
				fmt.Fprintf(&text, "%s\n  expected: %s\n  actual:   %s\n", d.Message, d.Expected, d.Actual)
			}
			tc.Failure = &junitProblem{Message: fmt.Sprintf("%d cells differ", c.Mismatched), Type: "GoldenMismatch", Text: xmlSafe(text.String())}
			s.Failures++
		case ComparisonSkipped:
			tc.Skipped = &junitProblem{Message: "a cell failed before the comparison"}
			s.Skipped++
		}
		s.Cases = append(s.Cases, tc)
	}
	s.Tests = len(s.Cases)
	doc := junitSuites{Name: "nbv", Tests: s.Tests, Failures: s.Failures, Time: s.Time, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// xmlSafe drops characters XML 1.0 cannot carry (control characters from terminal output);
// encoding/xml would otherwise write U+FFFD for some and fail readers on others.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r != 0xFFFE && r != 0xFFFF) {
			return r
		}
		return -1
	}, s)
}
