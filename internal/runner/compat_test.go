package runner_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner"
	"github.com/mlops-dev/nbv/internal/runner/compare"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// Notebooks nobody tuned for nbv, built here from scratch: each test shows nbv giving the
// verdict nbval, nbmake, papermill or nbclient give the same notebook.

// cell is a code cell of a notebook built by writeNotebook; Outputs are stored as given
// (for golden notebooks), Count is the execution count (0: none).
type cell struct {
	Source  string
	Tags    []string
	Outputs []map[string]any
	Count   int
}

// writeNotebook writes an nbformat 4.5 notebook with a Python kernelspec, merged with meta.
func writeNotebook(t *testing.T, dir, name string, meta map[string]any, cells ...cell) string {
	t.Helper()
	metadata := map[string]any{"kernelspec": map[string]any{"name": "python3", "display_name": "Python 3", "language": "python"}}
	for k, v := range meta {
		metadata[k] = v
	}
	var list []map[string]any
	for i, c := range cells {
		m := map[string]any{"cell_type": "code", "id": "c" + string(rune('a'+i)), "source": c.Source,
			"metadata": map[string]any{}, "outputs": []map[string]any{}, "execution_count": nil}
		if len(c.Tags) > 0 {
			m["metadata"] = map[string]any{"tags": c.Tags}
		}
		if c.Outputs != nil {
			m["outputs"] = c.Outputs
		}
		if c.Count > 0 {
			m["execution_count"] = c.Count
		}
		list = append(list, m)
	}
	b, err := json.MarshalIndent(map[string]any{"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": list}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A figure that fails to draw raises after the cell ran: the kernel answers "ok", the cell
// shows an error output. nbmake and nbval fail it; only a marker on the cell, or the
// notebook's allow_errors, lets it pass, and the report names that marker.
func TestErrorOutputOfACellTheKernelCalledOkFailsIt(t *testing.T) {
	needMatplotlib(t)
	const figure = "%matplotlib inline\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.set_xlabel(r\"$\\left($\")\nprint(\"drawn after the cell\")"
	// Without matplotlib: an error shown by the kernel itself while the cell succeeds.
	const shown = "try:\n    1/0\nexcept ZeroDivisionError:\n    get_ipython().showtraceback()"
	dir := t.TempDir()
	for _, tc := range []struct {
		name, source string
		tags         []string
		meta         map[string]any
		ename        string
		allowedBy    string // empty: the cell fails
	}{
		{name: "figure", source: figure, ename: "ValueError"},
		{name: "shown traceback", source: shown, ename: "ZeroDivisionError"},
		{name: "figure, tag", source: figure, tags: []string{"raises-exception"}, ename: "ValueError", allowedBy: "tag raises-exception"},
		{name: "figure, nbval comment", source: "# NBVAL_RAISES_EXCEPTION\n" + figure, ename: "ValueError", allowedBy: "# NBVAL_RAISES_EXCEPTION"},
		{name: "shown traceback, nbval tag", source: shown, tags: []string{"nbval-raises-exception"}, ename: "ZeroDivisionError", allowedBy: "tag nbval-raises-exception"},
		{name: "figure, allow_errors", source: figure, meta: map[string]any{"execution": map[string]any{"allow_errors": true}}, ename: "ValueError", allowedBy: "metadata.execution.allow_errors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nb := writeNotebook(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".ipynb", tc.meta,
				cell{Source: tc.source, Tags: tc.tags}, cell{Source: "print('next')"})
			r := mustRun(t, runner.Options{Notebook: nb})
			c := r.Cells[0]
			if tc.allowedBy == "" {
				if r.Reason != summary.ReasonCellFailed || c.Status != summary.CellFailure || c.Error == nil || c.Error.Name != tc.ename {
					t.Fatalf("%s: %s; cell 0 %s %+v", r.Reason, r.Message, c.Status, c.Error)
				}
				if c.Error.Traceback == "" || c.AllowedError != nil || r.Cells[1].Status != summary.CellSkipped {
					t.Errorf("traceback %q, allowed %+v, next cell %s", c.Error.Traceback, c.AllowedError, r.Cells[1].Status)
				}
				return
			}
			if r.Result != summary.ResultPassed || c.AllowedError == nil || c.AllowedError.Name != tc.ename || c.AllowedError.AllowedBy != tc.allowedBy {
				t.Fatalf("%s: %s; cell 0 allowed %+v", r.Reason, r.Message, c.AllowedError)
			}
			var text strings.Builder
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "allowed by "+tc.allowedBy) {
				t.Errorf("report text lacks the marker:\n%s", text.String())
			}
		})
	}
}

// A missing kernel is named with what provides it: ipykernel for Python only.
func TestMissingKernelHintNamesTheKernel(t *testing.T) {
	dir := t.TempDir()
	julia := writeNotebook(t, dir, "julia.ipynb", map[string]any{
		"kernelspec":    map[string]any{"name": "julia-1.10", "display_name": "Julia 1.10.4", "language": "julia"},
		"language_info": map[string]any{"name": "julia"}}, cell{Source: "println(1)"})
	r := map[string]any{"kernelspec": map[string]any{"name": "ir", "display_name": "R", "language": "R"}}
	for _, tc := range []struct {
		name   string
		o      runner.Options
		want   []string
		unwant string
	}{
		{"julia notebook", runner.Options{Notebook: julia}, []string{`'julia-1.10'`, "julia kernel", "IJulia", "Julia 1.10.4"}, "ipykernel"},
		{"R notebook", runner.Options{Notebook: writeNotebook(t, dir, "r.ipynb", r, cell{Source: "1"})}, []string{`'ir'`, "IRkernel"}, "ipykernel"},
		{"julia named on the command line", runner.Options{Notebook: writeNotebook(t, dir, "py.ipynb", nil, cell{Source: "1"}), Kernel: "julia-9"}, []string{`'julia-9'`, "IJulia"}, "ipykernel"},
		{"unknown kernel of a Python notebook", runner.Options{Notebook: fixtures + "nokernel.ipynb"}, []string{`'no-such-kernel'`, "ipykernel"}, "IJulia"},
		{"other language", runner.Options{Notebook: writeNotebook(t, dir, "scheme.ipynb", map[string]any{
			"kernelspec": map[string]any{"name": "calysto_scheme", "display_name": "Calysto Scheme", "language": "scheme"}}, cell{Source: "1"})},
			[]string{`'calysto_scheme'`, "scheme kernel"}, "ipykernel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, tc.o)
			if err == nil || runner.Reason(err) != summary.ReasonKernelMissing {
				t.Fatalf("err %v (%s), want %s", err, runner.Reason(err), summary.ReasonKernelMissing)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), tc.unwant) {
				t.Errorf("message mentions %q: %v", tc.unwant, err)
			}
		})
	}
}

// A golden figure saved at another dpi (another matplotlib, another savefig setting) has other
// pixel dimensions but the same figure: nbval does not compare the image, nor do we unless
// comparisonConfig.imageComparison asks for its size.
func TestGoldenFigureAtAnotherDPIMatches(t *testing.T) {
	needMatplotlib(t)
	dir := t.TempDir()
	nb := writeNotebook(t, dir, "figure.ipynb", nil,
		cell{Source: "dpi = 50", Tags: []string{"parameters"}},
		cell{Source: "%matplotlib inline\nimport matplotlib.pyplot as plt\n" +
			"get_ipython().run_line_magic('config', \"InlineBackend.print_figure_kwargs = {'bbox_inches': None, 'dpi': %d}\" % dpi)"},
		cell{Source: "fig = plt.figure(figsize=(2, 2), dpi=50)\nplt.plot([0, 1], [0, 1])\nplt.show()"})
	goldenDir := t.TempDir()
	if r := mustRun(t, runner.Options{Notebook: nb, OutputDir: goldenDir}); r.Result != summary.ResultPassed {
		t.Fatalf("golden run: %s: %s", r.Reason, r.Message)
	}
	golden := filepath.Join(goldenDir, runner.ExecutedFile)
	dpi := map[string]json.RawMessage{"dpi": json.RawMessage("75")}
	r := mustRun(t, runner.Options{Notebook: nb, Golden: golden, Parameters: dpi})
	if r.Result != summary.ResultPassed || r.Comparison.Matched != 3 {
		t.Fatalf("%s: %s %+v", r.Reason, r.Message, r.Comparison)
	}
	bySize, err := compare.FromSpec(&v1alpha1.ComparisonConfigSpec{ImageComparison: compare.ImagesBySize})
	if err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, runner.Options{Notebook: nb, Golden: golden, Parameters: dpi, Comparison: bySize})
	if r.Reason != summary.ReasonGoldenMismatch || r.Comparison.Diffs[0].Expected != "image/png 100x100" || r.Comparison.Diffs[0].Actual != "image/png 150x150" {
		t.Fatalf("by size: %s: %+v", r.Reason, r.Comparison)
	}
}

// A golden notebook saved from display(x) holds display_data where the notebook now ends on x
// (execute_result), or the other way round: nbval compares the data, not the output type.
func TestDisplayDataAndExecuteResultCompareByMIMEType(t *testing.T) {
	dir := t.TempDir()
	out := func(outputType, text string) map[string]any {
		o := map[string]any{"output_type": outputType, "data": map[string]any{"text/plain": text}, "metadata": map[string]any{}}
		if outputType == "execute_result" {
			o["execution_count"] = 1
		}
		return o
	}
	for _, tc := range []struct {
		name, source, goldenType, goldenText string
		pass                                 bool
	}{
		{"result against display_data", "x = 42\nx", "display_data", "42", true},
		{"display against execute_result", "x = 42\ndisplay(x)", "execute_result", "42", true},
		{"other data", "x = 43\nx", "display_data", "42", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "_")
			nb := writeNotebook(t, dir, name+".ipynb", nil, cell{Source: tc.source})
			golden := writeNotebook(t, dir, name+".golden.ipynb", nil, cell{Source: tc.source, Count: 1, Outputs: []map[string]any{out(tc.goldenType, tc.goldenText)}})
			r := mustRun(t, runner.Options{Notebook: nb, Golden: golden})
			if got := r.Result == summary.ResultPassed; got != tc.pass {
				t.Fatalf("%s: %s %+v", r.Reason, r.Message, r.Comparison)
			}
			if !tc.pass && r.Comparison.Diffs[0].Message != "cell 0 output text/plain differs at line 1" {
				t.Errorf("diff %+v", r.Comparison.Diffs[0])
			}
		})
	}
}

// An nbformat 3 notebook (IPython 2: worksheets) runs as papermill, nbmake and nbclient run it,
// upgraded to version 4, and compares with an nbformat 3 golden copy; parameters go after its
// parameters-tagged cell.
func TestNbformat3NotebookRunsAndCompares(t *testing.T) {
	dir := t.TempDir()
	write := func(name, cells string) string {
		path := filepath.Join(dir, name)
		doc := `{"metadata": {"name": "old", "signature": ""}, "nbformat": 3, "nbformat_minor": 0, "worksheets": [{"metadata": {}, "cells": [` + cells + `]}]}`
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const heading = `{"cell_type": "heading", "level": 1, "metadata": {}, "source": "Old notebook"}`
	nb := write("v3.ipynb", heading+`,
		{"cell_type": "code", "input": "n = 2", "language": "python", "metadata": {"tags": ["parameters"]}, "outputs": []},
		{"cell_type": "code", "input": ["print('n is', n)\n", "n * 21"], "language": "python", "metadata": {}, "outputs": []}`)
	golden := write("v3.golden.ipynb", heading+`,
		{"cell_type": "code", "input": "n = 2", "language": "python", "metadata": {"tags": ["parameters"]}, "prompt_number": 1, "outputs": []},
		{"cell_type": "code", "input": ["print('n is', n)\n", "n * 21"], "language": "python", "metadata": {}, "prompt_number": 2, "outputs": [
		 {"output_type": "stream", "stream": "stdout", "text": "n is 2\n"},
		 {"output_type": "pyout", "prompt_number": 2, "metadata": {}, "text": "42"}]}`)
	r := mustRun(t, runner.Options{Notebook: nb, Golden: golden})
	if r.Result != summary.ResultPassed || r.Comparison.Matched != 2 || r.Cells[1].Stdout != "n is 2\n" {
		t.Fatalf("%s: %s %+v", r.Reason, r.Message, r.Comparison)
	}
	r = mustRun(t, runner.Options{Notebook: nb, Golden: golden, Parameters: map[string]json.RawMessage{"n": json.RawMessage("3")}})
	if r.Reason != summary.ReasonGoldenMismatch || r.Cells[2].Stdout != "n is 3\n" || !strings.Contains(r.Comparison.Diffs[0].Message, "stream:stdout") {
		t.Fatalf("with n=3: %s: %s %+v", r.Reason, r.Message, r.Comparison)
	}
	if _, err := run(t, runner.Options{Notebook: fixtures + "not-a-notebook.ipynb"}); runner.Reason(err) != summary.ReasonNotANotebook {
		t.Errorf("not a notebook: %v", err)
	}
}
