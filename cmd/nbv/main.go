// Command nbv is the project's command line. Each subcommand is one entry in the commands
// table: a name, a one-line description and a func(ctx, args) error. A subcommand that wants
// a specific exit code returns an ExitError.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands is the subcommand table; other files add entries in their init.
var commands = map[string]command{}

// ExitError ends the process with Code after printing Err (if any) on stderr.
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return 2
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "nbv: unknown command %q\n", args[0])
		usage()
		return 2
	}
	err := cmd.run(ctx, args[1:])
	var ee *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ee.Err != nil {
			fmt.Fprintf(os.Stderr, "nbv %s: %v\n", args[0], ee.Err)
		}
		return ee.Code
	default:
		fmt.Fprintf(os.Stderr, "nbv %s: %v\n", args[0], err)
		return 2
	}
}

func usage() {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: nbv <command> [flags]")
	for _, name := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", name, commands[name].summary)
	}
}
