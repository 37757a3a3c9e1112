// Command nbv-runner runs inside the validation pod (and works locally).
//
//	nbv-runner prepare   init container: install this binary into a shared directory, clone the
//	                     notebook (and golden) repositories, check the notebook is there.
//	nbv-runner execute   main container: run the notebook with the image's Python + nbclient,
//	                     apply validationConfig and the golden comparison, write the reports.
//	nbv-runner publish   publish sidecar: once the notebook container has ended (SIGTERM), push
//	                     the executed notebook and reports as one OCI artifact; the only
//	                     container holding the registry credential.
//
// Settings come from flags and/or a NotebookValidationJobSpec in --job-spec or $NBV_JOB_SPEC;
// flags win. Both write a compact summary to --termination-log. Exit codes: 0 passed,
// 1 the notebook failed, 2 the runner or its environment failed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner"
	"github.com/mlops-dev/nbv/internal/runner/execute"
	"github.com/mlops-dev/nbv/internal/runner/redact"
	"github.com/mlops-dev/nbv/internal/runner/report"
	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/tracing"
)

const defaultTerminationLog = "/dev/termination-log"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: nbv-runner prepare|execute|publish [flags] (-h for flags)")
		return 2
	}
	switch args[0] {
	case "prepare":
		return prepare(ctx, args[1:], stdout, stderr)
	case "execute":
		return executeCmd(ctx, args[1:], stdout, stderr)
	case "publish":
		return publish(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "nbv-runner: unknown command %q (want prepare, execute or publish)\n", args[0])
	return 2
}

// fail reports an infrastructure error: message on stderr, summary with result "error" in
// the termination log, exit code 2.
func fail(stderr io.Writer, termLog string, red *redact.Redactor, err error) int {
	fmt.Fprintf(stderr, "nbv-runner: %s: %v\n", runner.Reason(err), err)
	if werr := runner.WriteTerminationLog(termLog, report.ErrorSummary(runner.Reason(err), red.String(err.Error()))); werr != nil {
		fmt.Fprintf(stderr, "nbv-runner: %v\n", werr)
	}
	return 2
}

func loadSpec(path string) (*v1alpha1.NotebookValidationJobSpec, error) {
	spec, err := runner.LoadJobSpec(path, os.Getenv(runner.JobSpecEnv))
	if err != nil {
		return nil, &runner.Error{Reason: summary.ReasonRunnerError, Err: err}
	}
	if spec == nil {
		spec = &v1alpha1.NotebookValidationJobSpec{}
	}
	return spec, nil
}

func prepare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prepare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jobSpec := fs.String("job-spec", "", "NotebookValidationJobSpec JSON file (else $"+runner.JobSpecEnv+")")
	installDir := fs.String("install-dir", "", "copy this binary into `dir` (shared with the notebook container)")
	workspace := fs.String("workspace", "/workspace", "clone into `dir`/notebook and dir/golden")
	nbURL := fs.String("notebook-url", "", "notebook repository URL (overrides the job spec)")
	nbRef := fs.String("notebook-ref", "", "notebook branch, tag or commit SHA")
	nbPath := fs.String("notebook-path", "", "notebook path in its repository")
	gURL := fs.String("golden-url", "", "golden notebook repository URL")
	gRef := fs.String("golden-ref", "", "golden branch, tag or commit SHA")
	gPath := fs.String("golden-path", "", "golden notebook path in its repository")
	creds := fs.String("credentials-dir", "", "mounted Secret `dir` for the notebook repository (username+password, token, or ssh-privatekey+known_hosts)")
	gCreds := fs.String("golden-credentials-dir", "", "mounted Secret `dir` for the golden repository (default: none; the notebook's credentials are never sent to the golden repository's host)")
	termLog := fs.String("termination-log", defaultTerminationLog, "write the summary here on failure (empty: nowhere)")
	maxBytes := maxNotebookFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	red, err := secrets(*creds, *gCreds)
	if err != nil {
		return fail(stderr, *termLog, nil, err)
	}
	stdout, stderr, flush := redacted(red, stdout, stderr)
	defer flush()
	spec, err := loadSpec(*jobSpec)
	if err != nil {
		return fail(stderr, *termLog, red, err)
	}
	o := prepareOptions(spec, prepareFlags{installDir: *installDir, workspace: *workspace,
		notebook: sourceFlags{*nbURL, *nbRef, *nbPath, *creds}, golden: sourceFlags{*gURL, *gRef, *gPath, *gCreds}})
	o.MaxNotebookBytes = *maxBytes
	ctx, endTracing := startTracing(ctx, stderr)
	defer endTracing()
	start := time.Now()
	cloneCtx, span := tracing.Tracer().Start(ctx, spanClone)
	p, err := runner.Prepare(cloneCtx, o)
	if err != nil {
		endSpan(span, runner.Reason(err), err)
		return fail(stderr, *termLog, red, err)
	}
	span.SetAttributes(attribute.String(attrCommit, p.NotebookCommit))
	endSpan(span, "", nil)
	fmt.Fprintf(stdout, "prepared %s at %s in %s\n", p.Notebook, p.NotebookCommit, time.Since(start).Round(time.Millisecond))
	if p.Golden != "" {
		fmt.Fprintf(stdout, "prepared golden %s at %s\n", p.Golden, p.GoldenCommit)
	}
	return 0
}

// sourceFlags are the command-line overrides of one repository.
type sourceFlags struct{ url, ref, path, credentialsDir string }

type prepareFlags struct {
	installDir, workspace string
	notebook, golden      sourceFlags
}

// prepareOptions merges the job spec with the flags. Each repository gets only its own
// credentials: the notebook's Secret may belong to another host than the golden's.
func prepareOptions(spec *v1alpha1.NotebookValidationJobSpec, f prepareFlags) runner.PrepareOptions {
	o := runner.PrepareOptions{InstallDir: f.installDir, Workspace: f.workspace,
		Notebook: runner.Source{URL: spec.Notebook.Git.URL, Ref: spec.Notebook.Git.Ref, Path: spec.Notebook.Path, CredentialsDir: f.notebook.credentialsDir}}
	override(&o.Notebook.URL, f.notebook.url)
	override(&o.Notebook.Ref, f.notebook.ref)
	override(&o.Notebook.Path, f.notebook.path)
	if g := spec.GoldenNotebook; g != nil || f.golden.url != "" || f.golden.path != "" {
		src := runner.Source{CredentialsDir: f.golden.credentialsDir}
		if g != nil {
			src.URL, src.Ref, src.Path = g.Git.URL, g.Git.Ref, g.Path
		}
		override(&src.URL, f.golden.url)
		override(&src.Ref, f.golden.ref)
		override(&src.Path, f.golden.path)
		o.Golden = &src
	}
	return o
}

// maxNotebookFlag is the size limit of both commands. It is a flag, not an environment
// variable, because the notebook container's environment is the job author's to set.
func maxNotebookFlag(fs *flag.FlagSet) *int64 {
	return fs.Int64("max-notebook-bytes", runner.DefaultMaxNotebookBytes, "refuse a notebook or golden notebook larger than `bytes`, before reading it")
}

func override(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func executeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("execute", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jobSpec := fs.String("job-spec", "", "NotebookValidationJobSpec JSON file (else $"+runner.JobSpecEnv+")")
	workspace := fs.String("workspace", "/workspace", "workspace `dir` filled by prepare")
	nbFile := fs.String("notebook", "", "notebook `file` (default: from the job spec in the workspace)")
	goldenFile := fs.String("golden", "", "golden notebook `file` (default: from the job spec in the workspace)")
	outDir := fs.String("output-dir", "", "write report.json, report.html, executed.ipynb, junit.xml here (default: workspace/output)")
	python := fs.String("python", "", "Python interpreter with nbclient (default: the first of "+execute.SearchOrder+" that imports nbclient)")
	kernel := fs.String("kernel", "", "kernel name (overrides the notebook and the job spec)")
	cellTimeout := fs.Duration("cell-timeout", 0, "per-cell timeout (overrides the job spec; 0: the spec's or none)")
	tolerance := fs.Float64("tolerance", -1, "golden comparison floating-point tolerance (overrides the job spec)")
	termLog := fs.String("termination-log", defaultTerminationLog, "write the compact summary here (empty: nowhere)")
	maxBytes := maxNotebookFlag(fs)
	params := runner.ParamFlag{}
	fs.Var(params, "p", "parameter `name=value` (JSON value or string; repeatable; overrides the job spec)")
	var secretDirs dirList
	fs.Var(&secretDirs, "secret-dir", "mounted Secret `dir` whose values are masked in every output (repeatable); so are the variables named in $"+redact.EnvNames)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	red, err := secrets(secretDirs...)
	if err != nil {
		return fail(stderr, *termLog, nil, err)
	}
	stdout, stderr, flush := redacted(red, stdout, stderr)
	defer flush()
	spec, err := loadSpec(*jobSpec)
	if err != nil {
		return fail(stderr, *termLog, red, err)
	}
	set, err := runner.SettingsFromSpec(spec)
	if err != nil {
		return fail(stderr, *termLog, red, &runner.Error{Reason: summary.ReasonRunnerError, Err: fmt.Errorf("job spec: %w", err)})
	}
	nb, golden := runner.WorkspacePaths(*workspace, spec)
	override(&nb, *nbFile)
	override(&golden, *goldenFile)
	if *outDir == "" {
		*outDir = filepath.Join(*workspace, "output")
	}
	if set.Parameters == nil && len(params) > 0 {
		set.Parameters = map[string]json.RawMessage{}
	}
	for k, v := range params {
		set.Parameters[k] = v
	}
	override(&set.Kernel, *kernel)
	if *cellTimeout > 0 {
		set.CellTimeout = *cellTimeout
	}
	if *tolerance >= 0 {
		set.Comparison.Tolerance = *tolerance
	}
	if spec.Notebook.Path == "" && *nbFile == "" {
		return fail(stderr, *termLog, red, &runner.Error{Reason: summary.ReasonRunnerError, Err: errors.New("no notebook: pass --notebook or a job spec")})
	}
	ctx, endTracing := startTracing(ctx, stderr)
	defer endTracing()
	execCtx, span := tracing.Tracer().Start(ctx, spanExecute)
	cells := newCellSpans(execCtx)
	r, err := runner.Execute(execCtx, runner.Options{
		Notebook: nb, Golden: golden, OutputDir: *outDir, Python: *python, Kernel: set.Kernel,
		Parameters: set.Parameters, CellTimeout: set.CellTimeout, Validation: set.Validation, Comparison: set.Comparison,
		Progress: func(ev execute.Event) {
			logEvent(stdout, ev)
			cells.event(ev)
		}, Stderr: stderr, Redact: red, MaxNotebookBytes: *maxBytes,
	})
	if err != nil && r == nil {
		endSpan(span, runner.Reason(err), err)
		return fail(stderr, *termLog, red, err)
	}
	if sum := r.Summary(); sum.Reason != "" {
		span.SetAttributes(attribute.String(tracing.AttrReason, sum.Reason))
	}
	endSpan(span, runner.Reason(err), err)
	if werr := runner.WriteTerminationLog(*termLog, r.Summary()); werr != nil {
		fmt.Fprintf(stderr, "nbv-runner: %v\n", werr)
	}
	_ = r.WriteText(stdout)
	// The pod's log is the only place full detail outlives the pod: print the report too.
	if b, jerr := json.Marshal(r); jerr == nil {
		fmt.Fprintf(stdout, "nbv-report: %s\n", b)
	}
	if err != nil {
		fmt.Fprintf(stderr, "nbv-runner: %v\n", err)
	}
	return runner.ExitCode(r, err)
}

// logEvent writes one log line per finished cell: pod logs are read after the fact, so the
// live "running" events are left out.
func logEvent(w io.Writer, ev execute.Event) {
	switch ev.Event {
	case "start":
		fmt.Fprintf(w, "kernel %s started in %d ms (python %s, nbclient %s), %d code cells\n", ev.Kernel, ev.StartupMs, ev.Python, ev.NBClient, ev.CodeCells)
	case "cell":
		line := fmt.Sprintf("cell %d: %s (%d ms)", ev.Index, ev.Status, ev.Ms)
		if ev.EName != "" {
			line += ": " + ev.EName + ": " + ev.EValue
		}
		fmt.Fprintln(w, line)
	}
}

// secrets masks the values of the Secrets mounted at dirs and of the environment variables
// the pod spec names in $NBV_SECRET_ENV.
func secrets(dirs ...string) (*redact.Redactor, error) {
	values, err := redact.FromDirs(dirs...)
	if err != nil {
		return nil, &runner.Error{Reason: summary.ReasonRunnerError, Err: err}
	}
	return redact.New(append(values, redact.FromEnv(os.Environ())...)...), nil
}

// redacted wraps the command's output so no secret value reaches the pod's log; flush writes
// what an unterminated last line held back.
func redacted(red *redact.Redactor, stdout, stderr io.Writer) (io.Writer, io.Writer, func()) {
	out, errOut := red.Writer(stdout), red.Writer(stderr)
	return out, errOut, func() {
		_ = out.Flush()
		_ = errOut.Flush()
	}
}

// dirList is a repeatable directory flag.
type dirList []string

func (d *dirList) String() string { return strings.Join(*d, ",") }

// Set adds one directory.
func (d *dirList) Set(s string) error {
	*d = append(*d, s)
	return nil
}
