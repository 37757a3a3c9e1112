// Package cli is nbv's command line, on cobra with kubectl's habits: kubeconfig flags,
// -o json|yaml|wide, list/get/logs/delete, shell completion. Each subcommand is built by a
// new...Command function in its own file; Execute runs the tree and turns the outcome into
// the exit code scripts rely on.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Exit codes: the contract CI scripts rely on (documented in `nbv --help` and the README).
const (
	// ExitSucceeded: the job (or notebook, or benchmark) succeeded, or the command did what it
	// was asked.
	ExitSucceeded = 0
	// ExitFailed: the job, the notebook or a benchmark invariant failed.
	ExitFailed = 1
	// ExitUsage: a usage error, or the command could not tell (unreachable cluster, timeout,
	// refused manifest).
	ExitUsage = 2
)

const exitCodesHelp = `Exit codes:
  0  the job (notebook, benchmark) succeeded, or the command did what it was asked
  1  the job failed: a cell raised, outputs differ from the golden notebook, a check failed
  2  usage error, or the command could not tell (cluster unreachable, timeout, refused manifest)`

// ExitError ends the command with Code after printing Err (if any) on stderr.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError is a mistake in how the command was called: its message is followed by a pointer
// to the command's help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error (exit 2).
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// NewRoot builds the whole command tree, reading stdin and writing stdout and stderr.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "nbv",
		Short: "validate Jupyter notebooks on Kubernetes (NotebookValidationJob) and on this machine",
		Long: `nbv creates and follows NotebookValidationJobs (mlops.mlops.dev/v1alpha1, short name nvj) on a
cluster the way kubectl does (--kubeconfig, --context, -n), validates a notebook on this machine
(validate), and runs the whole event-driven stack locally (run, bench).

` + exitCodesHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Go's flag package spelled long flags with one dash (-timeout 5m); Execute rewrites
		// them, so scripts written for it keep working.
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(newVersionCommand(), newSubmitCommand(), newListCommand(), newGetCommand(),
		newLogsCommand(), newDeleteCommand(), newValidateCommand(), newRunCommand(), newBenchCommand(),
		newCIEventCommand(), newReportCommand())
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// After SetOut: cobra's completion commands keep the writer they find now.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			// Without this an unknown shell prints the help and exits 0.
			c.Args = cobra.NoArgs
			c.RunE = func(_ *cobra.Command, args []string) error {
				return usagef("name a shell: bash, zsh, fish or powershell")
			}
		}
	}
	return root
}

// Execute runs nbv with args and returns the process's exit code.
func Execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRoot(stdin, stdout, stderr)
	if len(args) == 0 {
		root.SetOut(stderr)
		_ = root.Usage()
		return ExitUsage
	}
	root.SetArgs(longFlagsWithTwoDashes(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	return exitCode(cmd, err, stderr)
}

// exitCode prints err for a human (the whole chain, the API server's field causes, a pointer
// to --help for a usage error) and returns the exit code it means.
func exitCode(cmd *cobra.Command, err error, stderr io.Writer) int {
	if err == nil {
		return ExitSucceeded
	}
	name := "nbv"
	if cmd != nil {
		name = cmd.CommandPath()
	}
	code := ExitUsage
	var ee *ExitError
	if errors.As(err, &ee) {
		code = ee.Code
		if ee.Err == nil {
			return code
		}
	}
	lines := strings.Split(strings.TrimRight(err.Error(), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	// errors.Join and cobra's suggestions span lines: each further line indented under the first.
	fmt.Fprintf(stderr, "%s: %s\n", name, strings.Join(lines, "\n  "))
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if d := status.Status().Details; d != nil {
			for _, c := range d.Causes {
				// The message usually quotes its causes already; a cause it lacks is printed.
				if c.Field != "" && !strings.Contains(err.Error(), c.Message) {
					fmt.Fprintf(stderr, "  %s: %s\n", c.Field, c.Message)
				}
			}
		}
	}
	var ue *usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", name)
	}
	return code
}

// longFlagsWithTwoDashes rewrites "-name" and "-name=value" to "--name..." when name is a long
// flag of the command args select: Go's flag package (which nbv used before cobra) accepted
// one dash, and Makefiles and CI scripts call `nbv bench -chaos all -timeout 60m`. Shorthands
// (-n, -f, -o) are left alone, as is everything after "--" and every command that parses its
// own flags.
func longFlagsWithTwoDashes(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd.DisableFlagParsing {
		return args
	}
	// cobra adds --help only when the command runs; -help must find it now.
	cmd.InitDefaultHelpFlag()
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || strings.HasPrefix(a, "--") {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) > 1 && lookupFlag(cmd, name) != nil {
			out[i] = "-" + a
		}
	}
	return out
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}
