package runner_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/runner"
	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// trivial is the notebook both benchmarks run: three tiny code cells.
const trivial = fixtures + "pass.ipynb"

// BenchmarkNbclientDirect is the baseline: the least a runner must do, a Python process that
// reads the notebook, executes it with nbclient and writes it back.
func BenchmarkNbclientDirect(b *testing.B) {
	needNbclient(b)
	direct := nbclientDirect(b)
	b.ResetTimer()
	for b.Loop() {
		direct()
	}
}

// nbclientDirect returns a func that executes the trivial notebook with nbclient alone.
func nbclientDirect(b *testing.B) func() {
	dir := b.TempDir()
	script := filepath.Join(dir, "direct.py")
	src := `import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, kernel_name="python3", extra_arguments=["--InteractiveShell.colors=NoColor"]).execute()
nbformat.write(nb, sys.argv[2])
`
	if err := os.WriteFile(script, []byte(src), 0o600); err != nil {
		b.Fatal(err)
	}
	return func() {
		cmd := exec.Command(execute.DefaultPython, script, trivial, filepath.Join(dir, "out.ipynb"))
		cmd.Env = append(os.Environ(), "PYDEVD_DISABLE_FILE_VALIDATION=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}

// BenchmarkRunnerTrivial is the whole runner on the same notebook: parse, inject, driver with
// per-cell events, checks, report.json, executed notebook and JUnit.
func BenchmarkRunnerTrivial(b *testing.B) {
	needNbclient(b)
	run := runnerTrivial(b)
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}

// runnerTrivial returns a func that runs the whole runner on the trivial notebook.
func runnerTrivial(b *testing.B) func() {
	v, c := defaults(b)
	out := b.TempDir()
	return func() {
		r, err := runner.Execute(context.Background(), runner.Options{Notebook: trivial, OutputDir: out, Validation: v, Comparison: c})
		if err != nil || r.Result != summary.ResultPassed {
			b.Fatalf("%v %v", err, r)
		}
	}
}

// BenchmarkRunnerOverhead alternates the two on every iteration, so that load on the machine
// affects both alike, and reports the runner's overhead over nbclient alone from the fastest
// run of each (the run least disturbed by anything else), as overhead-%.
func BenchmarkRunnerOverhead(b *testing.B) {
	needNbclient(b)
	direct, run := nbclientDirect(b), runnerTrivial(b)
	fastest := func(f func(), best time.Duration) time.Duration {
		start := time.Now()
		f()
		if d := time.Since(start); best == 0 || d < best {
			return d
		}
		return best
	}
	var bestDirect, bestRunner time.Duration
	b.ResetTimer()
	for b.Loop() {
		bestDirect = fastest(direct, bestDirect)
		bestRunner = fastest(run, bestRunner)
	}
	b.ReportMetric(100*(bestRunner.Seconds()-bestDirect.Seconds())/bestDirect.Seconds(), "overhead-%")
	b.ReportMetric(bestDirect.Seconds(), "direct-s")
	b.ReportMetric(bestRunner.Seconds(), "runner-s")
}
