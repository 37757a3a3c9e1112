package cli

import (
	"bytes"
	"context"
	"strings"
)

// runCLI runs nbv with args as the binary would and returns its exit code, stdout and stderr.
func runCLI(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	return runCLIWithInput(ctx, "", args...)
}

// runCLIWithInput is runCLI with stdin.
func runCLIWithInput(ctx context.Context, stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Execute(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}
