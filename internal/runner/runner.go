// Package runner owns one validation run end to end, for the pod (nbv-runner) and the
// developer's machine (nbv validate) alike: prepare (clone + verify), then execute (inject
// parameters, run, check, compare, write report files). Infrastructure failures come back as
// *Error carrying the summary Reason; a notebook that fails is a Report, not an error.
package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mlops-dev/nbv/internal/runner/checks"
	"github.com/mlops-dev/nbv/internal/runner/compare"
	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/runner/notebook"
	"github.com/mlops-dev/nbv/internal/runner/redact"
	"github.com/mlops-dev/nbv/internal/runner/report"
	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/version"
)

// Files written to the output directory.
const (
	ReportFile   = "report.json"
	ExecutedFile = "executed.ipynb"
	JUnitFile    = "junit.xml"
)

// Error is an infrastructure failure with its summary Reason.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Reason returns the summary Reason of err (ReasonRunnerError when it carries none).
func Reason(err error) string {
	var re *Error
	if errors.As(err, &re) {
		return re.Reason
	}
	var ee *execute.Error
	if errors.As(err, &ee) {
		return ee.Reason
	}
	return summary.ReasonRunnerError
}

// Options configure Execute.
type Options struct {
	Notebook  string // path of the notebook to run
	Golden    string // path of the golden notebook; empty for none
	OutputDir string // receives report.json, executed.ipynb, junit.xml, report.html; empty: a temporary directory
	JUnitPath string // overrides OutputDir/junit.xml when set
	HTMLPath  string // also writes the HTML report (OutputDir/report.html) here when set
	Python    string
	// Chose is told which Python runs the notebook and which were passed over (execute.Options).
	Chose      func(it execute.Interpreter, passedOver string)
	Kernel     string
	Parameters map[string]json.RawMessage
	// CellTimeout bounds each cell; zero means none.
	CellTimeout time.Duration
	Validation  checks.Config
	Comparison  compare.Config
	// Progress receives the driver's events as they arrive.
	Progress func(execute.Event)
	// Stderr receives the kernel's own stderr (logs); nil discards it.
	Stderr io.Writer
	// Redact masks the credential values the notebook could print in the report, the
	// executed notebook and the summary; nil masks nothing.
	Redact *redact.Redactor
	// MaxNotebookBytes refuses a notebook or golden notebook larger than this before it is
	// read; zero means DefaultMaxNotebookBytes.
	MaxNotebookBytes int64
}

// DefaultMaxNotebookBytes is the largest notebook the runner reads unless told otherwise:
// parsing and running a notebook takes about ten times its size in memory, so a larger one
// would exhaust the pod (or the node, without a memory limit) before any check applies.
const DefaultMaxNotebookBytes int64 = 50 << 20

// Execute runs the notebook, applies checks and the golden comparison, and writes the report
// files. The returned report is complete even when the notebook failed.
func Execute(ctx context.Context, o Options) (*report.Report, error) {
	started := time.Now()
	src, err := readNotebook(o.Notebook, "notebook", o.MaxNotebookBytes)
	if err != nil {
		return nil, err
	}
	var golden *notebook.Notebook
	if o.Golden != "" {
		gsrc, err := readNotebook(o.Golden, "golden notebook", o.MaxNotebookBytes)
		if err != nil {
			return nil, err
		}
		golden, _ = notebook.Parse(gsrc)
	}
	injected, at, err := notebook.InjectParameters(src, o.Parameters)
	if err != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError, Err: fmt.Errorf("inject parameters: %w", err)}
	}
	toExecuted := func(i int) int {
		if at >= 0 && i >= at {
			return i + 1
		}
		return i
	}
	toRun, err := notebook.Parse(injected)
	if err != nil {
		return nil, &Error{Reason: summary.ReasonNotANotebook, Err: fmt.Errorf("notebook with parameters: %w", err)}
	}
	plans, nbSettings, err := conventions(toRun)
	if err != nil {
		return nil, err
	}
	// nbmake's notebook-level settings apply where the job and the command line set nothing.
	cellTimeout, allowErrors := o.CellTimeout, ""
	if cellTimeout == 0 && nbSettings.HasTimeout {
		cellTimeout = nbSettings.Timeout
	}
	if nbSettings.AllowErrors {
		allowErrors = "metadata.execution.allow_errors"
	}

	outDir := o.OutputDir
	if outDir == "" {
		if outDir, err = os.MkdirTemp("", "nbv-out-"); err != nil {
			return nil, &Error{Reason: summary.ReasonRunnerError, Err: fmt.Errorf("output directory: %w", err)}
		}
	} else if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError, Err: fmt.Errorf("output directory: %w", err)}
	}
	work, err := os.MkdirTemp("", "nbv-run-")
	if err != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError, Err: fmt.Errorf("work directory: %w", err)}
	}
	defer os.RemoveAll(work)
	input := filepath.Join(work, "input.ipynb")
	if err := os.WriteFile(input, injected, 0o600); err != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError, Err: fmt.Errorf("write notebook to run: %w", err)}
	}
	executedPath := filepath.Join(outDir, ExecutedFile)
	absNotebook, _ := filepath.Abs(o.Notebook)

	res, err := execute.Run(ctx, execute.Options{
		Python: o.Python, Chose: o.Chose, Notebook: input, Output: executedPath, Dir: filepath.Dir(absNotebook),
		CellTimeout: cellTimeout, Kernel: o.Kernel, ProbeCells: o.Validation.ProbeCells(toExecuted),
		Cells: plans, AllowErrors: allowErrors, Progress: o.Progress, Stderr: o.Stderr,
	})
	if err != nil {
		// A run stopped midway may have left an executed notebook holding outputs.
		if rerr := o.Redact.File(executedPath); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return nil, &Error{Reason: summary.ReasonRunnerError, Err: rerr}
		}
		return nil, err
	}
	// Redacted before anything reads it, so that no clipped output ends inside a value.
	if err := o.Redact.File(executedPath); err != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError, Err: err}
	}
	executed, err := notebook.ReadFile(executedPath)
	if err != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError, Err: fmt.Errorf("read executed notebook: %w", err)}
	}

	r := &report.Report{
		Notebook: o.Notebook, Golden: o.Golden, ExecutedNotebook: executedPath,
		Python: res.Python, PythonVersion: res.Start.Python, NBClient: res.Start.NBClient, Kernel: res.Start.Kernel,
		Parameters: o.Parameters, StartedAt: started, KernelStartupMs: res.Start.StartupMs,
	}
	ran := map[int]bool{}
	for _, ev := range res.Cells {
		r.Cells = append(r.Cells, cellReport(executed, ev))
		if ev.Status != execute.StatusSkipped {
			ran[ev.Index] = true
		}
		if ev.Exited {
			r.ExitedEarly = &report.EarlyExit{Cell: ev.Index, Code: ev.EValue}
		}
	}
	r.Findings = o.Validation.Run(checks.Input{Notebook: executed, Ran: ran, Probes: res.Probes, ProbeErrs: res.ProbeErrs, SourceToExecuted: toExecuted})
	if golden != nil {
		c := &report.Comparison{Strategy: o.Comparison.Strategy, Tolerance: o.Comparison.Tolerance, Result: report.ComparisonSkipped}
		// After a failed cell the later cells have no outputs: comparing them would only
		// bury the real cause under diffs. Cells skipped by a marker or after an early exit
		// are compared like any other (or left out for their marker).
		if r.FirstFailure() == nil {
			cr := compare.Compare(executed, golden, o.Comparison)
			c.Total, c.Matched, c.Mismatched, c.Diffs, c.NotCompared = cr.Total, cr.Matched, cr.Mismatched, cr.Diffs, cr.NotCompared
			c.Result = report.ComparisonMatched
			if !cr.Passed() {
				c.Result = report.ComparisonFailed
			}
		}
		r.Comparison = c
	}
	r.DurationMs = res.Total.Milliseconds()
	r.Decide()
	if err := o.Redact.JSON(r); err != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError, Err: err}
	}
	if err := writeOutputs(r, outDir, o.JUnitPath, o.Redact); err != nil {
		return r, &Error{Reason: summary.ReasonRunnerError, Err: err}
	}
	if err := writeHTML(r, executedPath, o.Golden, o.Comparison, o.Redact, filepath.Join(outDir, HTMLFile), o.HTMLPath); err != nil {
		return r, &Error{Reason: summary.ReasonRunnerError, Err: err}
	}
	return r, nil
}

func cellReport(nb *notebook.Notebook, ev execute.Event) report.Cell {
	c := report.Cell{Index: ev.Index, DurationMs: ev.Ms}
	switch ev.Status {
	case execute.StatusSuccess:
		c.Status = summary.CellSuccess
		if a := ev.Allowed; a != nil {
			c.AllowedError = &report.CellError{Name: a.EName, Value: a.EValue, AllowedBy: a.By}
		}
	case execute.StatusSkipped:
		c.Status, c.SkipReason = summary.CellSkipped, ev.Reason
	default:
		c.Status, c.TimedOut = summary.CellFailure, ev.Status == execute.StatusTimeout
		c.Error = &report.CellError{Name: ev.EName, Value: ev.EValue, From: ev.From,
			Traceback: notebook.StripANSI(strings.Join(ev.Traceback, "\n"))}
	}
	if ev.Index >= 0 && ev.Index < len(nb.Cells) {
		cell := nb.Cells[ev.Index]
		c.Source = string(cell.Source)
		c.Injected = cell.HasTag(notebook.TagInjectedParameters)
		var out, errs strings.Builder
		for _, o := range cell.Outputs {
			if o.OutputType != "stream" {
				continue
			}
			if o.Name == "stderr" {
				errs.WriteString(string(o.Text))
			} else {
				out.WriteString(string(o.Text))
			}
		}
		var t1, t2 bool
		c.Stdout, t1 = report.Clip(out.String())
		c.Stderr, t2 = report.Clip(errs.String())
		c.StreamTruncated = t1 || t2
	}
	return c
}

// writeOutputs writes report.json and the JUnit XML of r, which is redacted already; the XML
// is masked once more as written, in case a value reaches it by another way than the report.
func writeOutputs(r *report.Report, outDir, junitPath string, red *redact.Redactor) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outDir, ReportFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if junitPath == "" {
		junitPath = filepath.Join(outDir, JUnitFile)
	}
	var junit bytes.Buffer
	if err := r.WriteJUnit(&junit); err != nil {
		return err
	}
	if err := os.WriteFile(junitPath, []byte(red.String(junit.String())), 0o644); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	return nil
}

// readNotebook reads and validates a notebook file of at most limit bytes (zero:
// DefaultMaxNotebookBytes), classifying failures. The size is checked before the file is
// read, and the read stops past the limit whatever the file is (a FIFO, a device).
func readNotebook(path, what string, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxNotebookBytes
	}
	tooLarge := func(size string) error {
		return &Error{Reason: summary.ReasonNotebookTooLarge, Err: fmt.Errorf("%s %s is %s, over the runner's limit of %s (%d bytes)",
			what, path, size, humanBytes(limit), limit)}
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &Error{Reason: summary.ReasonNotebookNotFound, Err: fmt.Errorf("%s %s does not exist", what, path)}
	}
	if err != nil {
		return nil, &Error{Reason: summary.ReasonNotebookNotFound, Err: fmt.Errorf("read %s: %w", what, err)}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, tooLarge(fmt.Sprintf("%s (%d bytes)", humanBytes(st.Size()), st.Size()))
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &Error{Reason: summary.ReasonNotebookNotFound, Err: fmt.Errorf("read %s: %w", what, err)}
	}
	if int64(len(b)) > limit {
		return nil, tooLarge("more than " + humanBytes(limit))
	}
	if _, err := notebook.Parse(b); err != nil {
		return nil, &Error{Reason: summary.ReasonNotANotebook, Err: fmt.Errorf("%s %s: %w", what, path, err)}
	}
	return b, nil
}

// humanBytes is n in MiB with one decimal (n < 1 MiB in KiB).
func humanBytes(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// WriteTerminationLog writes the compact summary to path (the kubelet's termination-message
// file), stamped with this runner's version. An empty path writes nothing.
func WriteTerminationLog(path string, s summary.Summary) error {
	if path == "" {
		return nil
	}
	s.Runner = version.String()
	b, err := summary.Encode(s, summary.MaxBytes)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write termination message: %w", err)
	}
	return nil
}

// ExitCode maps an outcome to the process exit code: 0 passed, 1 the notebook failed,
// 2 the runner or its environment failed.
func ExitCode(r *report.Report, err error) int {
	switch {
	case err != nil:
		return 2
	case r.Result == summary.ResultPassed:
		return 0
	case r.Result == summary.ResultFailed:
		return 1
	}
	return 2
}
