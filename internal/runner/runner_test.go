package runner_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner"
	"github.com/mlops-dev/nbv/internal/runner/checks"
	"github.com/mlops-dev/nbv/internal/runner/compare"
	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/runner/report"
	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/version"
)

const fixtures = "../../test/fixtures/notebooks/"

// needNbclient skips when the Debian notebook stack is absent (CI installs it).
func needNbclient(t testing.TB) {
	t.Helper()
	if err := exec.Command(execute.DefaultPython, "-c", "import nbclient, ipykernel").Run(); err != nil {
		t.Skipf("%s lacks nbclient/ipykernel (apt-get install python3-nbclient python3-ipykernel): %v", execute.DefaultPython, err)
	}
}

func defaults(t testing.TB) (checks.Config, compare.Config) {
	v, err := checks.FromSpec(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := compare.FromSpec(nil)
	if err != nil {
		t.Fatal(err)
	}
	return v, c
}

func run(t *testing.T, o runner.Options) (*report.Report, error) {
	t.Helper()
	needNbclient(t)
	if o.OutputDir == "" {
		o.OutputDir = t.TempDir()
	}
	if o.Validation.Level == "" {
		o.Validation, _ = defaults(t)
	}
	if o.Comparison.Strategy == "" {
		_, o.Comparison = defaults(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runner.Execute(ctx, o)
}

func mustRun(t *testing.T, o runner.Options) *report.Report {
	t.Helper()
	r, err := run(t, o)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	// Every report must fit the termination message and decode as a summary.
	b, err := summary.Encode(r.Summary(), 0)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if _, err := summary.Decode(b); err != nil {
		t.Fatalf("Decode(Encode): %v", err)
	}
	return r
}

func TestPassingNotebook(t *testing.T) {
	out := t.TempDir()
	r := mustRun(t, runner.Options{Notebook: fixtures + "pass.ipynb", OutputDir: out})
	if r.Result != summary.ResultPassed || r.Reason != summary.ReasonPassed {
		t.Fatalf("result %s/%s: %s", r.Result, r.Reason, r.Message)
	}
	if r.Counts != (summary.Counts{Total: 3, Passed: 3}) {
		t.Errorf("counts %+v", r.Counts)
	}
	if r.Cells[0].Index != 1 || r.Cells[0].Stdout != "hello\n" {
		t.Errorf("first code cell %+v", r.Cells[0])
	}
	for _, f := range []string{runner.ReportFile, runner.ExecutedFile, runner.JUnitFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("output %s: %v", f, err)
		}
	}
	if runner.ExitCode(r, nil) != 0 {
		t.Error("exit code of a pass is not 0")
	}
}

func TestFailingCellSkipsTheRest(t *testing.T) {
	out := t.TempDir()
	r := mustRun(t, runner.Options{Notebook: fixtures + "fail.ipynb", OutputDir: out})
	if r.Reason != summary.ReasonCellFailed || runner.ExitCode(r, nil) != 1 {
		t.Fatalf("reason %s exit %d", r.Reason, runner.ExitCode(r, nil))
	}
	got := []string{r.Cells[0].Status, r.Cells[1].Status, r.Cells[2].Status}
	if strings.Join(got, ",") != "Success,Failure,Skipped" {
		t.Errorf("statuses %v", got)
	}
	e := r.Cells[1].Error
	if e == nil || e.Name != "ValueError" || e.Value != "bad value: 7" || !strings.Contains(e.Traceback, "raise ValueError") || strings.Contains(e.Traceback, "\x1b[") {
		t.Errorf("error %+v", e)
	}
	s := r.Summary()
	if s.FirstFailure == nil || s.FirstFailure.Index != 1 || s.FirstFailure.Error != "ValueError: bad value: 7" {
		t.Errorf("first failure %+v", s.FirstFailure)
	}
	// The termination message carries the end of the failing cell's traceback.
	if tb := s.FirstFailure.Traceback; !strings.Contains(tb, "raise ValueError") || !strings.HasSuffix(tb, "ValueError: bad value: 7") {
		t.Errorf("first failure's traceback %q, want its frame and error line", tb)
	}
	junit, _ := os.ReadFile(filepath.Join(out, runner.JUnitFile))
	if !strings.Contains(string(junit), `<failure message="ValueError: bad value: 7" type="ValueError">`) || !strings.Contains(string(junit), "<skipped") {
		t.Errorf("junit lacks the failure or the skipped cell:\n%s", junit)
	}
	// The skipped cell must not show outputs in the executed notebook.
	nb, _ := os.ReadFile(filepath.Join(out, runner.ExecutedFile))
	if strings.Contains(string(nb), "never") && strings.Contains(string(nb), `"text": "never`) {
		t.Error("skipped cell has output")
	}
}

func TestCellTimeout(t *testing.T) {
	start := time.Now()
	r := mustRun(t, runner.Options{Notebook: fixtures + "timeout.ipynb", CellTimeout: time.Second})
	if r.Reason != summary.ReasonCellTimeout || !r.Cells[0].TimedOut || r.Cells[1].Status != summary.CellSkipped {
		t.Fatalf("reason %s cells %+v", r.Reason, r.Cells)
	}
	// The cell sleeps 30 s: the run must end well before that, kernel killed.
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("timeout run took %s", d)
	}
}

func TestStderrWarnsByDefaultAndFailsWithFailOnStderr(t *testing.T) {
	r := mustRun(t, runner.Options{Notebook: fixtures + "stderr.ipynb"})
	if r.Result != summary.ResultPassed || len(r.Findings) != 1 || r.Findings[0].Severity != checks.SeverityWarning {
		t.Fatalf("default: %s %+v", r.Result, r.Findings)
	}
	v, err := checks.FromSpec(&v1alpha1.ValidationConfigSpec{FailOnStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, runner.Options{Notebook: fixtures + "stderr.ipynb", Validation: v})
	if r.Reason != summary.ReasonCheckFailed || !strings.Contains(r.Message, "something odd") {
		t.Fatalf("failOnStderr: %s %s", r.Reason, r.Message)
	}
}

func TestFailOnWarnings(t *testing.T) {
	v, _ := checks.FromSpec(&v1alpha1.ValidationConfigSpec{FailOnWarnings: true})
	r := mustRun(t, runner.Options{Notebook: fixtures + "warning.ipynb", Validation: v})
	if r.Reason != summary.ReasonCheckFailed || !strings.Contains(r.Message, "UserWarning: this API is going away") {
		t.Fatalf("%s %s %+v", r.Reason, r.Message, r.Findings)
	}
}

func TestParametersChangeTheResult(t *testing.T) {
	r := mustRun(t, runner.Options{Notebook: fixtures + "params.ipynb"})
	if r.Result != summary.ResultPassed {
		t.Fatalf("without parameters: %s", r.Message)
	}
	// n=3 makes result 63: the assert in the last cell fails, and the injected cell sits
	// right after the parameters cell.
	r = mustRun(t, runner.Options{Notebook: fixtures + "params.ipynb",
		Parameters: map[string]json.RawMessage{"n": json.RawMessage("3"), "label": json.RawMessage(`"it's \"x\""`)}})
	if r.Reason != summary.ReasonCellFailed || r.Cells[3].Error.Value != "63" {
		t.Fatalf("with n=3: %s %+v", r.Reason, r.Cells)
	}
	if !r.Cells[1].Injected || r.Cells[2].Stdout != "it's \"x\" 63\n" {
		t.Errorf("injected cell or output wrong: %+v", r.Cells[1:3])
	}
}

func TestExpectedOutputsUseTheResultObject(t *testing.T) {
	spec := &v1alpha1.ValidationConfigSpec{CheckOutputTypes: true, ExpectedOutputs: []v1alpha1.ExpectedOutputSpec{
		{Cell: 2, Type: "list", Shape: "3", NotEmpty: true},
		{Cell: 3, Type: "int", MinValue: "40", MaxValue: "42"},
	}}
	v, err := checks.FromSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, runner.Options{Notebook: fixtures + "pass.ipynb", Validation: v})
	if r.Result != summary.ResultPassed {
		t.Fatalf("%s %+v", r.Message, r.Findings)
	}
	spec.ExpectedOutputs[1].MaxValue = "41"
	spec.ExpectedOutputs[0].Type = "tuple"
	v, _ = checks.FromSpec(spec)
	r = mustRun(t, runner.Options{Notebook: fixtures + "pass.ipynb", Validation: v})
	if r.Reason != summary.ReasonCheckFailed || len(r.Errors()) != 2 {
		t.Fatalf("%s %+v", r.Reason, r.Findings)
	}
	if !strings.Contains(r.Errors()[0].Message, "builtins.list, want tuple") || !strings.Contains(r.Errors()[1].Message, "above maxValue 41") {
		t.Errorf("findings %+v", r.Errors())
	}
}

func TestGoldenComparison(t *testing.T) {
	exact, _ := compare.FromSpec(&v1alpha1.ComparisonConfigSpec{Strategy: "exact"})
	tests := []struct {
		golden  string
		cfg     *compare.Config
		reason  string
		diffTyp string
	}{
		// Timestamps and execution counts differ only.
		{golden: "compute.golden.ipynb", reason: summary.ReasonPassed},
		{golden: "compute.golden-within-tol.ipynb", reason: summary.ReasonPassed},
		{golden: "compute.golden-outside-tol.ipynb", reason: summary.ReasonGoldenMismatch, diffTyp: compare.DiffOutputMismatch},
		{golden: "compute.golden-extra-cell.ipynb", reason: summary.ReasonGoldenMismatch, diffTyp: compare.DiffMissingCell},
		// Exact comparison does not mask the timestamp.
		{golden: "compute.golden.ipynb", cfg: &exact, reason: summary.ReasonGoldenMismatch, diffTyp: compare.DiffOutputMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			o := runner.Options{Notebook: fixtures + "compute.ipynb", Golden: fixtures + tc.golden}
			if tc.cfg != nil {
				o.Comparison = *tc.cfg
			}
			r := mustRun(t, o)
			if r.Reason != tc.reason {
				t.Fatalf("reason %s: %s %+v", r.Reason, r.Message, r.Comparison)
			}
			if tc.diffTyp != "" && (len(r.Comparison.Diffs) != 1 || r.Comparison.Diffs[0].DiffType != tc.diffTyp) {
				t.Errorf("diffs %+v", r.Comparison.Diffs)
			}
			if tc.reason == summary.ReasonPassed && (r.Comparison.Result != report.ComparisonMatched || r.Comparison.Matched != 3) {
				t.Errorf("comparison %+v", r.Comparison)
			}
		})
	}
}

func TestNbformatVersions(t *testing.T) {
	for _, nb := range []string{"v44.ipynb", "pass.ipynb"} { // 4.4 without cell ids, 4.5 with
		r := mustRun(t, runner.Options{Notebook: fixtures + nb, Parameters: map[string]json.RawMessage{"p": json.RawMessage("1")}})
		if r.Result != summary.ResultPassed {
			t.Errorf("%s: %s", nb, r.Message)
		}
	}
}

func TestHugeOutput(t *testing.T) {
	out := t.TempDir()
	r := mustRun(t, runner.Options{Notebook: fixtures + "huge.ipynb", OutputDir: out})
	if r.Result != summary.ResultPassed {
		t.Fatalf("%s", r.Message)
	}
	if !r.Cells[0].StreamTruncated || len(r.Cells[0].Stdout) > report.MaxStreamBytes {
		t.Errorf("stdout not clipped: %d bytes", len(r.Cells[0].Stdout))
	}
	st, err := os.Stat(filepath.Join(out, runner.ExecutedFile))
	if err != nil || st.Size() < 4_000_000 {
		t.Errorf("executed notebook lost output: %v %v", st, err)
	}
}

func TestNonUTF8Output(t *testing.T) {
	out := t.TempDir()
	r := mustRun(t, runner.Options{Notebook: fixtures + "nonutf8.ipynb", OutputDir: out})
	if r.Result != summary.ResultPassed {
		t.Fatalf("%s", r.Message)
	}
	if !strings.Contains(r.Cells[0].Stdout, "surrogate \uFFFD end") {
		t.Errorf("stdout %q", r.Cells[0].Stdout)
	}
	b, _ := os.ReadFile(filepath.Join(out, runner.ReportFile))
	if !utf8.Valid(b) || !json.Valid(b) {
		t.Error("report.json is not valid UTF-8 JSON")
	}
}

func TestInfrastructureErrors(t *testing.T) {
	fakeNoNbclient := filepath.Join(t.TempDir(), "python3")
	// -S drops site-packages: a real Python that cannot import nbclient.
	if err := os.WriteFile(fakeNoNbclient, []byte("#!/bin/sh\nexec "+execute.DefaultPython+" -S \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		o      runner.Options
		reason string
		want   string
	}{
		{"missing kernel", runner.Options{Notebook: fixtures + "nokernel.ipynb"}, summary.ReasonKernelMissing, "no-such-kernel"},
		{"kernel override", runner.Options{Notebook: fixtures + "pass.ipynb", Kernel: "julia-9"}, summary.ReasonKernelMissing, "julia-9"},
		{"python without nbclient", runner.Options{Notebook: fixtures + "pass.ipynb", Python: fakeNoNbclient}, summary.ReasonPythonMissing, "nbclient"},
		{"no such python", runner.Options{Notebook: fixtures + "pass.ipynb", Python: "/nonexistent/python3"}, summary.ReasonPythonMissing, "not found"},
		{"not a notebook", runner.Options{Notebook: fixtures + "not-a-notebook.ipynb"}, summary.ReasonNotANotebook, "not a Jupyter notebook"},
		{"missing notebook", runner.Options{Notebook: fixtures + "nope.ipynb"}, summary.ReasonNotebookNotFound, "does not exist"},
		{"golden not a notebook", runner.Options{Notebook: fixtures + "pass.ipynb", Golden: fixtures + "not-a-notebook.ipynb"}, summary.ReasonNotANotebook, "golden"},
	}
	if p, err := exec.LookPath("python3"); err == nil && exec.Command(p, "-c", "import nbclient").Run() != nil {
		tests = append(tests, struct {
			name   string
			o      runner.Options
			reason string
			want   string
		}{"python3 on PATH without nbclient", runner.Options{Notebook: fixtures + "pass.ipynb", Python: p}, summary.ReasonPythonMissing, "python3-nbclient"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := run(t, tc.o)
			if err == nil {
				t.Fatalf("no error; result %s", r.Result)
			}
			if got := runner.Reason(err); got != tc.reason || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("reason %s (want %s), message %q (want %q in it)", got, tc.reason, err, tc.want)
			}
			if runner.ExitCode(r, err) != 2 {
				t.Error("exit code is not 2")
			}
		})
	}
}

func TestTerminationLogAndJobSpec(t *testing.T) {
	spec := `{"notebook":{"git":{"url":"https://example.com/r.git","ref":"main"},"path":"nb/params.ipynb"},
		"podConfig":{"containerImage":"python:3"},
		"execution":{"parameters":{"n":1,"label":"spec"},"cellTimeout":"30s","kernelName":"python3"},
		"validationConfig":{"level":"production"},
		"comparisonConfig":{"floatingPointTolerance":"0.01","customTimestampPatterns":["run-[0-9]+"]}}`
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := runner.LoadJobSpec(path, "")
	if err != nil {
		t.Fatal(err)
	}
	set, err := runner.SettingsFromSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	if set.CellTimeout != 30*time.Second || set.Kernel != "python3" || string(set.Parameters["n"]) != "1" ||
		!set.Validation.Strict || !set.Validation.FailOnStderr || set.Comparison.Tolerance != 0.01 || len(set.Comparison.TimestampPatterns) != 1 {
		t.Errorf("settings %+v", set)
	}
	if _, err := runner.LoadJobSpec("", `{"notebok":{}}`); err == nil {
		t.Error("a misspelt field in the job spec was accepted")
	}
	nb, golden := runner.WorkspacePaths("/ws", s)
	if nb != "/ws/notebook/nb/params.ipynb" || golden != "" {
		t.Errorf("paths %s %s", nb, golden)
	}
	tl := filepath.Join(t.TempDir(), "termination-log")
	if err := runner.WriteTerminationLog(tl, report.ErrorSummary(summary.ReasonRefNotFound, "no ref x")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(tl)
	if got, err := summary.Decode(b); err != nil || got.Result != summary.ResultError || got.Reason != summary.ReasonRefNotFound {
		t.Errorf("termination log %s: %v", b, err)
	} else if got.Runner != version.String() {
		t.Errorf("termination log names runner %q, want this build's version %q", got.Runner, version.String())
	}
}
