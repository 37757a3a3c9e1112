package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mlops-dev/nbv/internal/version"
)

func newVersionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "print nbv's version (-o json|yaml for scripts)",
		Args:  cobra.NoArgs,
	}
	output := newOutputFlag(cmd.Flags(), false)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := output.check(); err != nil {
			return err
		}
		if output.structured() {
			return output.printObject(cmd.OutOrStdout(), map[string]any{"version": version.String()})
		}
		_, err := fmt.Fprintln(cmd.OutOrStdout(), version.String())
		return err
	}
	return cmd
}
