package validationpod

import (
	"testing"
	"time"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

func TestResults(t *testing.T) {
	s := &summary.Summary{
		Result: summary.ResultFailed, Reason: summary.ReasonGoldenMismatch,
		Results: []summary.Cell{
			{Index: 1, Status: summary.CellSuccess, DurationMs: 1500},
			{Index: 3, Status: summary.CellFailure, DurationMs: 20, Error: "AssertionError: accuracy 0.7 < 0.9"},
			{Index: 4, Status: summary.CellSkipped},
		},
		Comparison: &summary.Comparison{Strategy: "exact", Result: "failed", Total: 3, Matched: 2, Mismatched: 1,
			Diffs: []summary.Diff{{Index: 3, CellType: "code", DiffType: "output_mismatch", Severity: "major", Expected: "0.9", Actual: "0.7"}}},
	}
	cells, cmp := Results(s)
	if len(cells) != 3 {
		t.Fatalf("got %d cells", len(cells))
	}
	if c := cells[0]; c.CellIndex != 1 || c.Status != v1alpha1.CellStatusSuccess || c.ExecutionTime == nil || c.ExecutionTime.Duration != 1500*time.Millisecond {
		t.Errorf("cell 1 = %+v", c)
	}
	if c := cells[1]; c.Status != v1alpha1.CellStatusFailure || c.ErrorMessage != "AssertionError: accuracy 0.7 < 0.9" {
		t.Errorf("cell 3 = %+v", c)
	}
	if c := cells[2]; c.Status != v1alpha1.CellStatusSkipped || c.ExecutionTime != nil {
		t.Errorf("skipped cell = %+v, want no execution time", c)
	}
	if cmp == nil || cmp.Strategy != "exact" || cmp.Result != "failed" || cmp.TotalCells != 3 || cmp.MatchedCells != 2 || cmp.MismatchedCells != 1 {
		t.Fatalf("comparison = %+v", cmp)
	}
	if d := cmp.Diffs; len(d) != 1 || d[0].CellIndex != 3 || d[0].Expected != "0.9" || d[0].Actual != "0.7" || d[0].Severity != "major" {
		t.Errorf("diffs = %+v", d)
	}
}

func TestResultsTruncatedKeepsFirstFailure(t *testing.T) {
	s := &summary.Summary{Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Truncated: true,
		FirstFailure: &summary.Cell{Index: 7, Status: summary.CellFailure, DurationMs: 3, Error: "KeyError: 'x'"}}
	cells, cmp := Results(s)
	if len(cells) != 1 || cells[0].CellIndex != 7 || cells[0].ErrorMessage != "KeyError: 'x'" {
		t.Errorf("cells = %+v, want the first failure", cells)
	}
	if cmp != nil {
		t.Errorf("comparison = %+v, want nil", cmp)
	}
}

// A summary is written by a container the user controls; values outside the CRD's enums
// must not reach the status patch, which the API server would reject as a whole.
func TestResultsKeepsEnumsValid(t *testing.T) {
	s := &summary.Summary{
		Results: []summary.Cell{{Index: -2, Status: "Exploded"}},
		Comparison: &summary.Comparison{Strategy: "vibes", Result: "meh", Total: -1,
			Diffs: []summary.Diff{{Index: 0, CellType: "html", DiffType: "different", Severity: "apocalyptic"}}},
	}
	cells, cmp := Results(s)
	if c := cells[0]; c.Status != v1alpha1.CellStatusFailure || c.CellIndex != 0 {
		t.Errorf("cell = %+v", c)
	}
	if cmp.Strategy != "normalized" || cmp.Result != "failed" || cmp.TotalCells != 0 {
		t.Errorf("comparison = %+v", cmp)
	}
	if d := cmp.Diffs[0]; d.CellType != "code" || d.DiffType != "output_mismatch" || d.Severity != "major" {
		t.Errorf("diff = %+v", d)
	}
	if cells, cmp := Results(nil); cells != nil || cmp != nil {
		t.Error("Results(nil) returned something")
	}
}
