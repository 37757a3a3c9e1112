// Package summary owns the compact run summary that nbv-runner writes to the container's
// termination message and the pod-completed function reads back from the Pod object.
// Its JSON Schema is schemas/runner-summary.v1.json; Encode keeps it under the kubelet's
// 4 KiB termination-message limit by dropping detail, never counts or the first failure.
package summary

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// SchemaVersion is the value of the "v" field this package writes and accepts.
const SchemaVersion = 1

// MaxBytes is the kubelet's limit on a container termination message.
const MaxBytes = 4096

// Result values.
const (
	ResultPassed = "passed" // notebook ran and every check passed
	ResultFailed = "failed" // the notebook is at fault: a result, never retried
	ResultError  = "error"  // the runner or its environment failed: may be retried
)

// Reason values: machine-readable causes behind Result.
const (
	ReasonPassed           = "Passed"
	ReasonCellFailed       = "CellFailed"
	ReasonCellTimeout      = "CellTimeout"
	ReasonCheckFailed      = "CheckFailed"
	ReasonGoldenMismatch   = "GoldenMismatch"
	ReasonCloneAuthFailed  = "CloneAuthFailed"
	ReasonRefNotFound      = "RefNotFound"
	ReasonRepoNotFound     = "RepoNotFound"
	ReasonNotebookNotFound = "NotebookNotFound"
	ReasonNotANotebook     = "NotANotebook"
	ReasonNotebookTooLarge = "NotebookTooLarge"
	ReasonKernelMissing    = "KernelMissing"
	ReasonPythonMissing    = "PythonMissing"
	ReasonRunnerError      = "RunnerError"
)

// Summary is the compact outcome of one notebook run.
type Summary struct {
	V       int    `json:"v"`
	Result  string `json:"result"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// DurationMs is the notebook's total execution time.
	DurationMs int64  `json:"durationMs,omitempty"`
	Cells      Counts `json:"cells"`
	// FirstFailure is the first failing cell, if any; it survives every truncation.
	FirstFailure *Cell `json:"firstFailure,omitempty"`
	// Results holds per-code-cell outcomes, in notebook order.
	Results    []Cell      `json:"results,omitempty"`
	Comparison *Comparison `json:"comparison,omitempty"`
	// Truncated is set when Encode dropped detail to fit MaxBytes.
	Truncated bool `json:"truncated,omitempty"`
	// Runner is the release version of the nbv-runner that wrote the summary, so that a job's
	// result names the code that produced it. Short and never dropped by Encode.
	Runner string `json:"runner,omitempty"`
}

// Counts are the code cells by outcome.
type Counts struct {
	Total   int `json:"total"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// Cell statuses.
const (
	CellSuccess = "Success"
	CellFailure = "Failure"
	CellSkipped = "Skipped"
)

// Cell is one code cell's outcome. Index counts all cells of the notebook from 0.
type Cell struct {
	Index      int    `json:"i"`
	Status     string `json:"s"`
	DurationMs int64  `json:"ms,omitempty"`
	// Error is "Name: value" of the exception, or the check that failed.
	Error string `json:"err,omitempty"`
	// Traceback is the end of the failing cell's traceback (its last lines, at most
	// MaxTraceback bytes), set on firstFailure only: pod-completed shows it as the cell's
	// status.results[].output.
	Traceback string `json:"tb,omitempty"`
}

// MaxTraceback bounds Cell.Traceback. It fits status.results[].output whole (the status
// cleaner's per-cell limit, 1 KiB), so the lines kept are the ones that name the error.
const MaxTraceback = 1000

// tracebackCut marks the lines TracebackTail left out.
const tracebackCut = "…\n"

// TracebackTail returns the last whole lines of tb that fit in limit bytes, after a line
// "…" when lines were left out. A single last line longer than limit keeps its end.
func TracebackTail(tb string, limit int) string {
	if len(tb) <= limit {
		return tb
	}
	if limit <= len(tracebackCut) {
		return ""
	}
	start := len(tb) - (limit - len(tracebackCut))
	if nl := strings.IndexByte(tb[start:], '\n'); nl >= 0 && start+nl+1 < len(tb) {
		start += nl + 1
	}
	for start < len(tb) && !utf8.RuneStart(tb[start]) {
		start++
	}
	return tracebackCut + tb[start:]
}

// Comparison is the golden comparison outcome.
type Comparison struct {
	Strategy   string `json:"strategy"`
	Result     string `json:"result"` // matched | failed | skipped
	Total      int    `json:"total"`
	Matched    int    `json:"matched"`
	Mismatched int    `json:"mismatched"`
	Diffs      []Diff `json:"diffs,omitempty"`
}

// Diff is one cell that differs from the golden notebook.
type Diff struct {
	Index    int    `json:"i"`
	CellType string `json:"cellType"`
	DiffType string `json:"diffType"` // output_mismatch | execution_error | missing_cell | extra_cell
	Severity string `json:"severity"` // minor | major | critical
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
}

// Encode marshals s in at most limit bytes (MaxBytes when limit <= 0). The first failure's
// traceback is always cut to its last MaxTraceback bytes; beyond that it shortens texts, drops
// per-cell results and diffs from the end, then halves the traceback (keeping its end), and
// marks the summary Truncated.
func Encode(s Summary, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = MaxBytes
	}
	s.V = SchemaVersion
	if ff := s.FirstFailure; ff != nil && len(ff.Traceback) > MaxTraceback {
		c := *ff
		c.Traceback = TracebackTail(c.Traceback, MaxTraceback)
		s.FirstFailure = &c
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("marshal summary: %w", err)
	}
	if len(b) <= limit {
		return b, nil
	}
	s.Truncated = true
	s.Message = clip(s.Message, 512)
	if s.FirstFailure != nil {
		ff := *s.FirstFailure
		ff.Error = clip(ff.Error, 512)
		s.FirstFailure = &ff
	}
	s.Results = clipCells(s.Results, 160)
	if s.Comparison != nil {
		c := *s.Comparison
		c.Diffs = clipDiffs(c.Diffs, 160)
		s.Comparison = &c
	}
	for {
		b, err = json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("marshal summary: %w", err)
		}
		if len(b) <= limit {
			return b, nil
		}
		switch {
		case s.Comparison != nil && len(s.Comparison.Diffs) > 0:
			s.Comparison.Diffs = s.Comparison.Diffs[:len(s.Comparison.Diffs)-1]
		case len(s.Results) > 0:
			s.Results = s.Results[:len(s.Results)-1]
		case len(s.Message) > 64:
			s.Message = clip(s.Message, len(s.Message)/2)
		case s.FirstFailure != nil && len(s.FirstFailure.Traceback) > 0:
			s.FirstFailure.Traceback = TracebackTail(s.FirstFailure.Traceback, len(s.FirstFailure.Traceback)/2)
		case s.FirstFailure != nil && len(s.FirstFailure.Error) > 64:
			s.FirstFailure.Error = clip(s.FirstFailure.Error, len(s.FirstFailure.Error)/2)
		default:
			return nil, fmt.Errorf("summary does not fit in %d bytes even without detail (%d bytes)", limit, len(b))
		}
	}
}

// ErrInvalid marks a termination message that is JSON but not a summary this runner could
// have written: an unknown or duplicate field, a value of the wrong type, or a summary that
// contradicts itself (see Check). The container that wrote it is the user's, so such a message
// is a result to report, never something to retry.
var ErrInvalid = errors.New("runner summary is invalid")

// Decode parses a termination message written by Encode, strictly: besides JSON syntax it
// refuses invalid UTF-8, duplicate keys, unknown fields and trailing data, then applies Check.
// Every refusal of a syntactically valid JSON document wraps ErrInvalid; an empty or non-JSON
// message (a runner killed before or while writing it) does not.
func Decode(b []byte) (Summary, error) {
	var s Summary
	if len(bytes.TrimSpace(b)) == 0 {
		return s, errors.New("summary is empty")
	}
	if !json.Valid(b) {
		var probe any
		err := json.Unmarshal(b, &probe)
		return s, fmt.Errorf("summary is not JSON: %v", err)
	}
	if !utf8.Valid(b) {
		return s, fmt.Errorf("%w: it is not valid UTF-8", ErrInvalid)
	}
	if err := checkDuplicateKeys(b); err != nil {
		return s, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Summary{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := s.Check(); err != nil {
		return Summary{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return s, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a UTF-8 boundary so the result stays valid JSON text.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func clipCells(cells []Cell, n int) []Cell {
	out := make([]Cell, len(cells))
	for i, c := range cells {
		c.Error = clip(c.Error, n)
		out[i] = c
	}
	return out
}

func clipDiffs(diffs []Diff, n int) []Diff {
	out := make([]Diff, len(diffs))
	for i, d := range diffs {
		d.Expected = clip(d.Expected, n)
		d.Actual = clip(d.Actual, n)
		out[i] = d
	}
	return out
}
