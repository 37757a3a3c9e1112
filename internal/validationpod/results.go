package validationpod

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// Results maps the runner's summary into status.results and status.comparisonResult.
//
// The summary comes from a container the user controls, so values outside the CRD's enums are
// mapped to the nearest safe one: the API server would otherwise reject the whole status patch,
// and the job could never leave ValidationRunning.
func Results(s *summary.Summary) ([]v1alpha1.CellResult, *v1alpha1.ComparisonResult) {
	if s == nil {
		return nil, nil
	}
	cells := s.Results
	if len(cells) == 0 && s.FirstFailure != nil {
		// Encode dropped the per-cell detail to fit 4 KiB; the first failure always survives.
		cells = []summary.Cell{*s.FirstFailure}
	}
	var results []v1alpha1.CellResult
	for _, c := range cells {
		r := v1alpha1.CellResult{
			CellIndex:    max(c.Index, 0),
			Status:       oneOf(c.Status, v1alpha1.CellStatusFailure, v1alpha1.CellStatusSuccess, v1alpha1.CellStatusFailure, v1alpha1.CellStatusSkipped),
			ErrorMessage: c.Error,
		}
		if r.Status != v1alpha1.CellStatusSkipped {
			r.ExecutionTime = &metav1.Duration{Duration: time.Duration(c.DurationMs) * time.Millisecond}
		}
		// The failing cell's traceback is its output, as in the existing operator (which
		// kept its first 2000 characters; the summary keeps its last lines, which name the
		// error).
		if ff := s.FirstFailure; ff != nil && ff.Index == c.Index && r.Status == v1alpha1.CellStatusFailure {
			r.Output = ff.Traceback
		}
		results = append(results, r)
	}

	var cmp *v1alpha1.ComparisonResult
	if c := s.Comparison; c != nil {
		cmp = &v1alpha1.ComparisonResult{
			Strategy:        oneOf(c.Strategy, "normalized", "exact", "normalized", "fuzzy", "semantic"),
			Result:          oneOf(c.Result, "failed", "matched", "failed", "skipped"),
			TotalCells:      max(c.Total, 0),
			MatchedCells:    max(c.Matched, 0),
			MismatchedCells: max(c.Mismatched, 0),
		}
		for _, d := range c.Diffs {
			cmp.Diffs = append(cmp.Diffs, v1alpha1.CellDiff{
				CellIndex: max(d.Index, 0),
				CellType:  oneOf(d.CellType, "code", "code", "markdown", "raw"),
				DiffType:  oneOf(d.DiffType, "output_mismatch", "output_mismatch", "execution_error", "missing_cell", "extra_cell"),
				Expected:  d.Expected,
				Actual:    d.Actual,
				Severity:  oneOf(d.Severity, "major", "minor", "major", "critical"),
			})
		}
	}
	return results, cmp
}

// oneOf returns v when it is one of allowed, else def.
func oneOf(v, def string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return def
}
