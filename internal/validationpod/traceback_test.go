package validationpod

import (
	"testing"

	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/statustext"
)

// TestFailingCellsTracebackIsItsOutput: the traceback the runner kept becomes the failing
// cell's status.results[].output, whether or not the per-cell results survived Encode, and
// no other cell gets it.
func TestFailingCellsTracebackIsItsOutput(t *testing.T) {
	const tb = "Cell In[4], line 2\n----> 2 1 / 0\n\nZeroDivisionError: division by zero"
	fail := summary.Cell{Index: 3, Status: summary.CellFailure, Error: "ZeroDivisionError: division by zero", Traceback: tb}
	withResults := &summary.Summary{FirstFailure: &fail, Results: []summary.Cell{
		{Index: 1, Status: summary.CellSuccess},
		{Index: 3, Status: summary.CellFailure, Error: fail.Error},
		{Index: 4, Status: summary.CellSkipped},
	}}
	rs, _ := Results(withResults)
	if len(rs) != 3 || rs[1].Output != tb || rs[0].Output != "" || rs[2].Output != "" {
		t.Errorf("results %+v: want the traceback as cell 3's output only", rs)
	}
	rs, _ = Results(&summary.Summary{FirstFailure: &fail})
	if len(rs) != 1 || rs[0].CellIndex != 3 || rs[0].Output != tb {
		t.Errorf("results without per-cell detail %+v: want cell 3 with its traceback", rs)
	}
}

// TestTracebackFitsTheStatusLimit: the runner keeps no more of a traceback than the status
// cleaner would keep, so the status shows the traceback's end, not a cut middle.
func TestTracebackFitsTheStatusLimit(t *testing.T) {
	if summary.MaxTraceback > statustext.MaxCellText {
		t.Errorf("summary.MaxTraceback %d exceeds statustext.MaxCellText %d", summary.MaxTraceback, statustext.MaxCellText)
	}
}
