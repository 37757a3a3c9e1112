package cli

import (
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlops-dev/nbv/internal/externalci"
)

// ciEventTimeout bounds the whole POST, so a CI step cannot hang on an unreachable route.
const ciEventTimeout = 30 * time.Second

// newCIEventCommand is `nbv ci-event`; externalci.Command parses its flags and does the work
// (and prints its errors), so the integration tests run the same code against the route.
func newCIEventCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "ci-event --url URL --namespace NS --job NAME --status succeeded|failed --key-file F [flags]",
		Short: "report an external CI build of a job's image (signed CloudEvent)",
		// externalci.Command owns the flags (nbv ci-event -h lists them).
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			code := externalci.Command(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr(), time.Now, &http.Client{Timeout: ciEventTimeout})
			if code == ExitUsage && wantsHelp(args) {
				// Go's flag package answers -h with its usage and exit 2; help is not an error.
				return nil
			}
			if code != ExitSucceeded {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
}

// wantsHelp reports whether args ask for help (-h, -help, --help) before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}
