package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlops-dev/nbv/internal/artifact"
	"github.com/mlops-dev/nbv/internal/runner"
	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// validateFlags are `nbv validate`'s settings.
type validateFlags struct {
	golden, junit, html, kernel, python, outDir, jobSpec string
	params                                               runner.ParamFlag
	cellTimeout                                          time.Duration
	tolerance                                            float64
	keep                                                 bool
	push                                                 string
	registry                                             reportFlags
}

func newValidateCommand() *cobra.Command {
	f := validateFlags{params: runner.ParamFlag{}}
	cmd := &cobra.Command{
		Use:   "validate NOTEBOOK",
		Short: "run a notebook locally with nbclient, check it, compare with a golden notebook",
		Long: `Run the runner's engine on this machine: live progress on stderr, a readable result on stdout.
The Python is --python, else the first of ` + execute.SearchOrder + `
that can import nbclient; the one used is printed on stderr. Golden differences are shown as
unified diffs of the differing outputs, here and in report.html.

Exit code 0 passed, 1 the notebook failed, 2 the runner or its environment failed.`,
		Example: `  nbv validate nb.ipynb --golden nb.golden.ipynb -p epochs=2 --cell-timeout 2m
  nbv validate nb.ipynb --out results/   # keeps report.json, report.html, junit.xml, executed.ipynb`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("name exactly one notebook (got %d arguments)", len(args))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.golden, "golden", "", "golden notebook `file` to compare outputs with")
	fs.VarP(paramValue{f.params}, "param", "p", "parameter `name=value` (JSON value or string; repeatable)")
	fs.DurationVar(&f.cellTimeout, "cell-timeout", 0, "per-cell timeout (default: the job spec's, else none)")
	fs.Float64Var(&f.tolerance, "tolerance", 0, "floating-point tolerance for the golden comparison (default: the job spec's, else 0.0001)")
	fs.StringVar(&f.junit, "junit", "", "also write a JUnit XML report to `file`")
	fs.StringVar(&f.html, "html", "", "also write a self-contained HTML report (every cell, traceback, golden diff) to `file`")
	fs.StringVar(&f.kernel, "kernel", "", "kernel name (default: the notebook's)")
	fs.StringVar(&f.python, "python", "", "Python interpreter with nbclient (default: the first of "+execute.SearchOrder+" that imports nbclient)")
	fs.StringVar(&f.outDir, "out", "", "write report.json, report.html, junit.xml and executed.ipynb to `dir` and keep them (default: a temporary directory, removed when the run ends)")
	fs.StringVar(&f.outDir, "output-dir", "", "the same as --out")
	fs.BoolVar(&f.keep, "keep", false, "without --out: keep the run's temporary directory and print its path")
	fs.StringVar(&f.push, "push", "", "push report.json, report.html, junit.xml and executed.ipynb as one OCI artifact to `REF` (registry/repository:tag), as a cluster run does; prints it by digest")
	fs.StringVar(&f.registry.dockerConfig, "docker-config", "", "with --push: `DIR` holding config.json with the registry login (default: $DOCKER_CONFIG, ~/.docker)")
	fs.BoolVar(&f.registry.insecure, "insecure", false, "with --push: plain HTTP (loopback registries always are)")
	fs.StringVar(&f.jobSpec, "job-spec", "", "NotebookValidationJobSpec JSON `file` for validationConfig, comparisonConfig and execution")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return validate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], f, cmd.Flags().Changed)
	}
	return cmd
}

// paramValue is runner.ParamFlag as a pflag.Value.
type paramValue struct{ runner.ParamFlag }

func (paramValue) Type() string { return "name=value" }

// validate runs the notebook; changed says which flags the user set (the job spec's values
// hold for the others).
func validate(ctx context.Context, stdout, stderr io.Writer, notebook string, f validateFlags, changed func(string) bool) error {
	spec, err := runner.LoadJobSpec(f.jobSpec, "")
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	set, err := runner.SettingsFromSpec(spec)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("job spec: %w", err)}
	}
	if len(f.params) > 0 && set.Parameters == nil {
		set.Parameters = f.params
	} else {
		for k, v := range f.params {
			set.Parameters[k] = v
		}
	}
	if changed("cell-timeout") {
		set.CellTimeout = f.cellTimeout
	}
	if changed("tolerance") {
		if f.tolerance < 0 {
			return usagef("--tolerance %g: want 0 or more", f.tolerance)
		}
		set.Comparison.Tolerance = f.tolerance
	}
	if f.kernel != "" {
		set.Kernel = f.kernel
	}
	dir := f.outDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "nbv-out-"); err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("output directory: %w", err)}
		}
		if f.keep {
			defer fmt.Fprintf(stderr, "kept the run's directory %s (report.json, report.html, junit.xml, executed.ipynb)\n", dir)
		} else {
			defer os.RemoveAll(dir)
		}
	}
	p := newProgress(stderr)
	r, err := runner.Execute(ctx, runner.Options{
		Notebook: notebook, Golden: f.golden, OutputDir: dir, JUnitPath: f.junit, HTMLPath: f.html,
		Python: f.python, Chose: p.interpreter, Kernel: set.Kernel, Parameters: set.Parameters, CellTimeout: set.CellTimeout,
		Validation: set.Validation, Comparison: set.Comparison, Progress: p.event,
	})
	p.finish()
	if r == nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: %w", runner.Reason(err), err)}
	}
	if f.outDir == "" && !f.keep {
		r.ExecutedNotebook = "" // removed with the run's directory: not worth printing
	}
	if werr := r.WriteText(stdout); werr != nil {
		return &ExitError{Code: ExitUsage, Err: werr}
	}
	if f.push != "" {
		o := f.registry.options()
		o.Annotations = map[string]string{"org.opencontainers.image.description": "nbv validate " + filepath.Base(notebook)}
		pushed, perr := artifact.Push(ctx, dir, f.push, o)
		if perr != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--push: %w", perr)}
		}
		fmt.Fprintf(stderr, "pushed %s as %s (nbv report fetches a job's; oras pull %s restores the files)\n", strings.Join(pushed.Files, ", "), pushed.Reference, pushed.Reference)
	}
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
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

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		st, err := f.Stat()
		tty = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	return &progress{w: w, tty: tty, started: time.Now()}
}

// interpreter says which Python runs the notebook, and which were passed over and why.
func (p *progress) interpreter(it execute.Interpreter, passedOver string) {
	if passedOver != "" {
		p.line(fmt.Sprintf("python %s (%s) passed over: %s", it.Path, it.Source, passedOver), false)
		return
	}
	p.line(fmt.Sprintf("python %s (%s)", it.Path, it.Source), false)
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
