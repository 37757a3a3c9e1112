package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mlops-dev/nbv/internal/runner"
	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

func init() {
	commands["validate"] = command{summary: "run a notebook locally with nbclient, check it, compare with a golden notebook", run: validate}
}

// validate runs the runner's engine on this machine: live progress on stderr, a readable
// result on stdout, exit code 0 passed, 1 the notebook failed, 2 error.
func validate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: nbv validate NOTEBOOK [--golden G] [-p name=value ...] [--cell-timeout D] [--tolerance X] [--junit FILE] [--html FILE] [--kernel K] [--out DIR | --keep]")
		fs.PrintDefaults()
	}
	golden := fs.String("golden", "", "golden notebook `file` to compare outputs with")
	params := runner.ParamFlag{}
	fs.Var(params, "p", "parameter `name=value` (JSON value or string; repeatable)")
	cellTimeout := fs.Duration("cell-timeout", 0, "per-cell timeout (0: none, or the job spec's)")
	tolerance := fs.Float64("tolerance", -1, "floating-point tolerance for the golden comparison (default 0.0001)")
	junit := fs.String("junit", "", "also write a JUnit XML report to `file`")
	htmlReport := fs.String("html", "", "also write a self-contained HTML report (every cell, traceback, golden diff side by side) to `file`")
	kernel := fs.String("kernel", "", "kernel name (default: the notebook's)")
	python := fs.String("python", "", "Python interpreter with nbclient (default: "+execute.DefaultPython+", then python3 on PATH)")
	outDir := fs.String("out", "", "write report.json, report.html, junit.xml and executed.ipynb to `dir` and keep them (default: a temporary directory, removed when the run ends)")
	fs.StringVar(outDir, "output-dir", "", "the same as --out")
	keep := fs.Bool("keep", false, "without --out: keep the run's temporary directory and print its path")
	jobSpec := fs.String("job-spec", "", "NotebookValidationJobSpec JSON `file` for validationConfig, comparisonConfig and execution")

	// Flags may come before or after the notebook.
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return &ExitError{Code: 2}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(positional) != 1 {
		fs.Usage()
		return &ExitError{Code: 2, Err: errors.New("name exactly one notebook")}
	}
	spec, err := runner.LoadJobSpec(*jobSpec, "")
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	set, err := runner.SettingsFromSpec(spec)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("job spec: %w", err)}
	}
	if len(params) > 0 && set.Parameters == nil {
		set.Parameters = params
	} else {
		for k, v := range params {
			set.Parameters[k] = v
		}
	}
	if *cellTimeout > 0 {
		set.CellTimeout = *cellTimeout
	}
	if *tolerance >= 0 {
		set.Comparison.Tolerance = *tolerance
	}
	if *kernel != "" {
		set.Kernel = *kernel
	}
	dir := *outDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "nbv-out-"); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("output directory: %w", err)}
		}
		if *keep {
			defer fmt.Fprintf(os.Stderr, "kept the run's directory %s (report.json, report.html, junit.xml, executed.ipynb)\n", dir)
		} else {
			defer os.RemoveAll(dir)
		}
	}
	p := newProgress(os.Stderr)
	r, err := runner.Execute(ctx, runner.Options{
		Notebook: positional[0], Golden: *golden, OutputDir: dir, JUnitPath: *junit, HTMLPath: *htmlReport,
		Python: *python, Kernel: set.Kernel, Parameters: set.Parameters, CellTimeout: set.CellTimeout,
		Validation: set.Validation, Comparison: set.Comparison, Progress: p.event,
	})
	p.finish()
	if r == nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("%s: %w", runner.Reason(err), err)}
	}
	if *outDir == "" && !*keep {
		r.ExecutedNotebook = "" // removed with the run's directory: not worth printing
	}
	if werr := r.WriteText(os.Stdout); werr != nil {
		return &ExitError{Code: 2, Err: werr}
	}
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if r.Result != summary.ResultPassed {
		return &ExitError{Code: runner.ExitCode(r, nil)}
	}
	return nil
}

// progress draws one live status line on a terminal, or a line per finished cell otherwise.
type progress struct {
	w       io.Writer
	tty     bool
	total   int
	done    int
	started time.Time
}

func newProgress(f *os.File) *progress {
	st, err := f.Stat()
	return &progress{w: f, tty: err == nil && st.Mode()&os.ModeCharDevice != 0, started: time.Now()}
}

func (p *progress) event(ev execute.Event) {
	switch ev.Event {
	case "start":
		p.total = ev.CodeCells
		p.line(fmt.Sprintf("kernel %s ready in %.1fs, %d code cells", ev.Kernel, float64(ev.StartupMs)/1000, ev.CodeCells), false)
	case "cell_start":
		if p.tty {
			p.line(fmt.Sprintf("[%d/%d] cell %d running… (%.0fs)", p.done+1, p.total, ev.Index, time.Since(p.started).Seconds()), true)
		}
	case "cell":
		p.done++
		msg := fmt.Sprintf("[%d/%d] cell %d %s in %d ms", p.done, p.total, ev.Index, ev.Status, ev.Ms)
		if ev.EName != "" {
			msg += ": " + ev.EName + ": " + ev.EValue
		}
		p.line(msg, p.tty && ev.Status == execute.StatusSuccess)
	}
}

// line prints msg; a transient line is overwritten by the next one on a terminal.
func (p *progress) line(msg string, transient bool) {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+msg)
		if !transient {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintln(p.w, msg)
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
