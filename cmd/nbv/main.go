// Command nbv is the project's command line; the commands live in package cli so that the
// integration tests run them in-process against a real API server.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mlops-dev/nbv/cmd/nbv/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
