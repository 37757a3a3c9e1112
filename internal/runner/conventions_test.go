package runner_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner"
	"github.com/mlops-dev/nbv/internal/runner/checks"
	"github.com/mlops-dev/nbv/internal/runner/compare"
	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/runner/report"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// Notebooks written for papermill, nbval and nbmake, run for real on the host Python: each
// test shows one convention giving the verdict the tool it was written for gives.

func param(v string) map[string]json.RawMessage {
	return map[string]json.RawMessage{"how": json.RawMessage(`"` + v + `"`)}
}

func statuses(r *report.Report) string {
	var s []string
	for _, c := range r.Cells {
		s = append(s, c.Status)
	}
	return strings.Join(s, ",")
}

// In papermill-exit.ipynb (parameters injected at 2), cell 4 exits as `how` says, cell 5
// raises and cell 6 prints.
func TestPapermillCleanExitEndsTheNotebookAsSuccess(t *testing.T) {
	// Failing on stderr and warnings: IPython's "To exit: use 'exit'..." must not count.
	strict, err := checks.FromSpec(&v1alpha1.ValidationConfigSpec{FailOnStderr: true, FailOnWarnings: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"none", "zero", "raise"} {
		t.Run(how, func(t *testing.T) {
			r := mustRun(t, runner.Options{Notebook: fixtures + "papermill-exit.ipynb", Parameters: param(how), Validation: strict})
			if r.Result != summary.ResultPassed || runner.ExitCode(r, nil) != 0 {
				t.Fatalf("%s: %s %+v", r.Reason, r.Message, r.Findings)
			}
			if statuses(r) != "Success,Success,Success,Success,Skipped,Skipped" {
				t.Errorf("statuses %s", statuses(r))
			}
			if r.ExitedEarly == nil || r.ExitedEarly.Cell != 4 {
				t.Errorf("exitedEarly %+v", r.ExitedEarly)
			}
			if !strings.Contains(r.Message, "exited early in cell 4") || !strings.Contains(r.Cells[4].SkipReason, "exited early in cell 4") {
				t.Errorf("message %q, skip reason %q", r.Message, r.Cells[4].SkipReason)
			}
			if s := r.Summary(); s.Cells.Skipped != 2 || s.FirstFailure != nil {
				t.Errorf("summary %+v", s)
			}
		})
	}
	for how, want := range map[string]string{"three": "SystemExit: 3", "message": "SystemExit: bye"} {
		t.Run(how, func(t *testing.T) {
			r := mustRun(t, runner.Options{Notebook: fixtures + "papermill-exit.ipynb", Parameters: param(how)})
			if r.Reason != summary.ReasonCellFailed || r.Cells[3].Error == nil || r.Cells[3].Error.Name+": "+r.Cells[3].Error.Value != want {
				t.Fatalf("%s: %s", r.Reason, r.Message)
			}
			if r.ExitedEarly != nil || statuses(r) != "Success,Success,Success,Failure,Skipped,Skipped" {
				t.Errorf("exitedEarly %+v, statuses %s", r.ExitedEarly, statuses(r))
			}
		})
	}
}

// A golden notebook saved by an early-exiting run has cells that never ran: they are not
// compared (the executed notebook's skipped cells match them), and the report says so.
func TestGoldenCellsThatNeverRanAreNotCompared(t *testing.T) {
	r := mustRun(t, runner.Options{Notebook: fixtures + "papermill-exit.ipynb", Golden: fixtures + "papermill-exit.golden.ipynb", Parameters: param("zero")})
	if r.Result != summary.ResultPassed || r.Comparison.Result != report.ComparisonMatched {
		t.Fatalf("%s: %s %+v", r.Reason, r.Message, r.Comparison)
	}
	var notRun []int
	for _, n := range r.Comparison.NotCompared {
		if strings.Contains(n.Reason, "never ran") {
			notRun = append(notRun, n.Index)
		}
	}
	if len(notRun) != 2 || notRun[0] != 5 || notRun[1] != 6 || r.Comparison.Total != 3 {
		t.Errorf("not compared %+v, total %d", r.Comparison.NotCompared, r.Comparison.Total)
	}
}

// nbval-markers.ipynb against its stored outputs: random outputs ignored by comment and tag,
// three cells skipped (their code would raise), expected exceptions, stdout/stderr chunked
// and redrawn with \r, a golden cell saved without running, and NBVAL_CHECK_OUTPUT winning
// over an nbval-ignore-output tag.
func TestNbvalMarkersAndTags(t *testing.T) {
	r := mustRun(t, runner.Options{Notebook: fixtures + "nbval-markers.ipynb", Golden: fixtures + "nbval-markers.golden.ipynb"})
	if r.Result != summary.ResultPassed || r.Comparison.Result != report.ComparisonMatched {
		t.Fatalf("%s: %s %+v", r.Reason, r.Message, r.Comparison)
	}
	byIndex := map[int]report.Cell{}
	for _, c := range r.Cells {
		byIndex[c.Index] = c
	}
	for i, marker := range map[int]string{4: "# NBVAL_SKIP", 5: "tag nbval-skip", 6: "tag skip-execution"} {
		if c := byIndex[i]; c.Status != summary.CellSkipped || c.SkipReason != "marked "+marker {
			t.Errorf("cell %d: %s %q", i, c.Status, c.SkipReason)
		}
	}
	for i, want := range map[int]string{7: "ZeroDivisionError by # NBVAL_RAISES_EXCEPTION", 8: "ValueError by tag raises-exception"} {
		c := byIndex[i]
		if c.Status != summary.CellSuccess || c.AllowedError == nil || c.AllowedError.Name+" by "+c.AllowedError.AllowedBy != want {
			t.Errorf("cell %d: %s %+v", i, c.Status, c.AllowedError)
		}
	}
	reasons := map[int]string{}
	for _, n := range r.Comparison.NotCompared {
		reasons[n.Index] = n.Reason
	}
	for i, want := range map[int]string{2: "# NBVAL_IGNORE_OUTPUT", 3: "tag nbval-ignore-output", 4: "NBVAL_SKIP", 10: "never ran"} {
		if !strings.Contains(reasons[i], want) {
			t.Errorf("cell %d not compared for %q, want %q", i, reasons[i], want)
		}
	}
	if _, ok := reasons[11]; ok || r.Comparison.Total != 5 {
		t.Errorf("NBVAL_CHECK_OUTPUT cell left out or wrong total: %+v", r.Comparison)
	}

	// The checked cell really is compared: a different stored value fails on it alone.
	g, err := os.ReadFile(fixtures + "nbval-markers.golden.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "golden.ipynb")
	if err := os.WriteFile(changed, []byte(strings.Replace(string(g), `"42\n"`, `"41\n"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, runner.Options{Notebook: fixtures + "nbval-markers.ipynb", Golden: changed})
	if r.Reason != summary.ReasonGoldenMismatch || len(r.Comparison.Diffs) != 1 || r.Comparison.Diffs[0].Index != 11 {
		t.Fatalf("%s: %+v", r.Reason, r.Comparison)
	}
}

func needMatplotlib(t *testing.T) {
	t.Helper()
	needNbclient(t)
	if err := exec.Command(execute.DefaultPython, "-c", "import matplotlib, matplotlib_inline").Run(); err != nil {
		t.Skipf("%s lacks matplotlib (make python-deps installs python3-matplotlib): %v", execute.DefaultPython, err)
	}
}

// plot.golden.ipynb holds a red 100x100 figure. By default, as under nbval, the image compares
// by its type alone: another colour matches. Size, pixels and bytes are opt-in
// (comparisonConfig.imageComparison, or strategy exact).
func TestMatplotlibFiguresCompareAsImageComparisonSays(t *testing.T) {
	needMatplotlib(t)
	for _, tc := range []struct {
		name, color, size string
		spec              v1alpha1.ComparisonConfigSpec
		reason, detail    string
	}{
		{name: "other colour", color: "blue", size: "2", reason: summary.ReasonPassed},
		// The figure's text/plain names its size: compared, as nbval compares it.
		{name: "other size", color: "red", size: "3", reason: summary.ReasonGoldenMismatch, detail: "<Figure size 150x150 with 1 Axes>"},
		{name: "other size, by size", color: "red", size: "3", spec: v1alpha1.ComparisonConfigSpec{ImageComparison: compare.ImagesBySize},
			reason: summary.ReasonGoldenMismatch, detail: "image/png 150x150"},
		{name: "other colour, by size", color: "blue", size: "2", spec: v1alpha1.ComparisonConfigSpec{ImageComparison: compare.ImagesBySize}, reason: summary.ReasonPassed},
		{name: "other colour, by pixels", color: "blue", size: "2", spec: v1alpha1.ComparisonConfigSpec{ImageComparison: compare.ImagesByPixels},
			reason: summary.ReasonGoldenMismatch, detail: "image/png 100x100 pixels"},
		{name: "other colour, exact", color: "blue", size: "2", spec: v1alpha1.ComparisonConfigSpec{Strategy: compare.StrategyExact},
			reason: summary.ReasonGoldenMismatch, detail: "output image/png differs (images compared by bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := compare.FromSpec(&tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			r := mustRun(t, runner.Options{Notebook: fixtures + "plot.ipynb", Golden: fixtures + "plot.golden.ipynb", Comparison: cfg,
				Parameters: map[string]json.RawMessage{"color": json.RawMessage(`"` + tc.color + `"`), "size": json.RawMessage(tc.size)}})
			if r.Reason != tc.reason {
				t.Fatalf("%s: %s %+v", r.Reason, r.Message, r.Comparison)
			}
			if tc.detail != "" && !strings.Contains(r.Comparison.Diffs[0].Message+" "+r.Comparison.Diffs[0].Actual, tc.detail) {
				t.Errorf("diff %+v lacks %q", r.Comparison.Diffs[0], tc.detail)
			}
		})
	}
}

// nbmake.ipynb: a mock overrides globals after cell 0, cell 2 raises under the notebook's
// allow_errors, and cell 3's post_cell_execute code runs and asserts.
func TestNbmakeMetadata(t *testing.T) {
	r := mustRun(t, runner.Options{Notebook: fixtures + "nbmake.ipynb"})
	if r.Result != summary.ResultPassed {
		t.Fatalf("%s: %s", r.Reason, r.Message)
	}
	if r.Cells[1].Stdout != "mocked\n" || r.Cells[4].Stdout != "2\n" {
		t.Errorf("mock or post_cell_execute not applied: %q %q", r.Cells[1].Stdout, r.Cells[4].Stdout)
	}
	if a := r.Cells[2].AllowedError; a == nil || a.Name != "ZeroDivisionError" || a.AllowedBy != "metadata.execution.allow_errors" {
		t.Errorf("allowed error %+v", a)
	}

	// The same notebook without allow_errors fails where it raises.
	b, err := os.ReadFile(fixtures + "nbmake.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	strict := filepath.Join(t.TempDir(), "strict.ipynb")
	if err := os.WriteFile(strict, []byte(strings.Replace(string(b), `"allow_errors": true`, `"allow_errors": false`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, runner.Options{Notebook: strict})
	if r.Reason != summary.ReasonCellFailed || r.Cells[2].Status != summary.CellFailure {
		t.Fatalf("without allow_errors: %s %s", r.Reason, statuses(r))
	}
}

func TestNbmakePostCellExecuteFailureFailsTheCell(t *testing.T) {
	r := mustRun(t, runner.Options{Notebook: fixtures + "nbmake-post-fail.ipynb"})
	e := r.Cells[0].Error
	if r.Reason != summary.ReasonCellFailed || e == nil || e.Name != "AssertionError" || e.Value != "post_cell_execute saw x=1" || e.From != "nbmake.post_cell_execute" {
		t.Fatalf("%s: %s %+v", r.Reason, r.Message, e)
	}
	if !strings.Contains(r.Message, "(in nbmake.post_cell_execute)") || r.Cells[1].Status != summary.CellSkipped {
		t.Errorf("message %q, statuses %s", r.Message, statuses(r))
	}
}

// nbmake-timeout.ipynb sleeps 30 s under metadata.execution.timeout = 1.
func TestNbmakeNotebookTimeout(t *testing.T) {
	start := time.Now()
	r := mustRun(t, runner.Options{Notebook: fixtures + "nbmake-timeout.ipynb"})
	if r.Reason != summary.ReasonCellTimeout || !r.Cells[0].TimedOut {
		t.Fatalf("%s: %s", r.Reason, r.Message)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the notebook's 1 s timeout did not apply: the run took %s", d)
	}
}

func TestMaskPatternsHideVolatileText(t *testing.T) {
	o := runner.Options{Notebook: fixtures + "masks.ipynb", Golden: fixtures + "masks.golden.ipynb"}
	if r := mustRun(t, o); r.Reason != summary.ReasonGoldenMismatch {
		t.Fatalf("without masks: %s: %s", r.Reason, r.Message)
	}
	cfg, err := compare.FromSpec(&v1alpha1.ComparisonConfigSpec{MaskPatterns: []v1alpha1.MaskPattern{
		{Pattern: `run id: [0-9a-f-]{36}`, Replacement: "run id: <uuid>"},
		{Pattern: `took \d+\.\d+s`, Replacement: "took <t>"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	o.Comparison = cfg
	if r := mustRun(t, o); r.Result != summary.ResultPassed {
		t.Fatalf("with masks: %s: %s %+v", r.Reason, r.Message, r.Comparison)
	}
}

// Expected-output checks inspect a cell's result in the kernel after it ran; that inspection
// must not take the cell's place in the executed notebook (nbclient stores the cell it ran).
func TestProbedCellsKeepTheirPlaceInTheExecutedNotebook(t *testing.T) {
	v, err := checks.FromSpec(&v1alpha1.ValidationConfigSpec{ExpectedOutputs: []v1alpha1.ExpectedOutputSpec{{Cell: 2, NotEmpty: true}, {Cell: 3, MinValue: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	r := mustRun(t, runner.Options{Notebook: fixtures + "pass.ipynb", Validation: v, OutputDir: out})
	if r.Result != summary.ResultPassed {
		t.Fatalf("%s: %s %+v", r.Reason, r.Message, r.Findings)
	}
	b, err := os.ReadFile(filepath.Join(out, runner.ExecutedFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "nbv-probe") || strings.Contains(string(b), "NBVPROBE") {
		t.Errorf("the executed notebook holds the probe instead of the cell:\n%s", b)
	}
	if r.Cells[1].Source == "" || strings.Contains(r.Cells[1].Source, "nbv-probe") {
		t.Errorf("cell 2 source %q", r.Cells[1].Source)
	}
}
