package runner

import (
	"fmt"

	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/runner/notebook"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// conventions turns the markers and metadata of the notebook about to run (parameters
// injected, so indexes are the executed ones) into the driver's per-cell plans, and reads
// nbmake's notebook-level settings. Metadata of the wrong shape is the notebook's fault.
func conventions(nb *notebook.Notebook) (map[int]execute.CellPlan, notebook.ExecutionSettings, error) {
	settings, err := nb.ExecutionSettings()
	if err != nil {
		return nil, settings, &Error{Reason: summary.ReasonNotANotebook, Err: err}
	}
	plans := map[int]execute.CellPlan{}
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		d, err := c.Directives()
		if err != nil {
			return nil, settings, &Error{Reason: summary.ReasonNotANotebook, Err: fmt.Errorf("cell %d: %w", i, err)}
		}
		p := execute.CellPlan{Skip: d.Skip, AllowError: d.RaisesException, After: d.After}
		if p.Skip != "" || p.AllowError != "" || len(p.After) > 0 {
			plans[i] = p
		}
	}
	return plans, settings, nil
}
