package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// WriteText prints the report for a person: the verdict, the failing cell with its error and
// traceback, failed checks and warnings, and the differences from the golden notebook.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	verdict := map[string]string{summary.ResultPassed: "PASSED", summary.ResultFailed: "FAILED"}[r.Result]
	if verdict == "" {
		verdict = "ERROR"
	}
	fmt.Fprintf(&b, "%s %s (%s) in %.1fs: %s\n", verdict, r.Notebook, r.Reason, float64(r.DurationMs)/1000, r.Message)
	fmt.Fprintf(&b, "cells: %d passed, %d failed, %d skipped of %d code cells\n", r.Counts.Passed, r.Counts.Failed, r.Counts.Skipped, r.Counts.Total)
	if f := r.FirstFailure(); f != nil {
		fmt.Fprintf(&b, "\ncell %d failed after %d ms:\n", f.Index, f.DurationMs)
		b.WriteString(indent(strings.TrimRight(f.Source, "\n"), "  | "))
		fmt.Fprintf(&b, "\n%s\n", f.errorText())
		if f.Error != nil && f.Error.Traceback != "" {
			b.WriteString(indent(f.Error.Traceback, "  "))
			b.WriteByte('\n')
		}
	}
	for _, c := range r.Cells {
		if a := c.AllowedError; a != nil {
			fmt.Fprintf(&b, "cell %d raised %s, allowed by %s\n", c.Index, a.text(), a.AllowedBy)
		}
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%s: %s: %s\n", f.Severity, f.Check, f.Message)
	}
	if c := r.Comparison; c != nil {
		fmt.Fprintf(&b, "golden comparison (%s, tolerance %g): %s, %d of %d code cells match\n", c.Strategy, c.Tolerance, c.Result, c.Matched, c.Total)
		for _, d := range c.Diffs {
			fmt.Fprintf(&b, "  [%s/%s] %s\n", d.DiffType, d.Severity, d.Message)
			switch {
			case d.Unified != "":
				b.WriteString(indent(strings.TrimSuffix(d.Unified, "\n"), "    "))
				b.WriteByte('\n')
			case d.Expected != "" || d.Actual != "":
				fmt.Fprintf(&b, "    - expected: %s\n    + actual:   %s\n", d.Expected, d.Actual)
			}
		}
		for _, n := range c.NotCompared {
			fmt.Fprintf(&b, "  not compared: cell %d: %s\n", n.Index, n.Reason)
		}
	}
	if r.ExecutedNotebook != "" {
		fmt.Fprintf(&b, "executed notebook: %s\n", r.ExecutedNotebook)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
