package cli

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlops-dev/nbv/internal/version"
)

// Help is not an error: --help, -h and help exit 0 with the exit codes documented; a bare nbv
// is a usage error (exit 2) that still prints the commands.
func TestHelpExitsZero(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "submit"}, {"submit", "--help"}, {"validate", "-h"}, {"ci-event", "--help"}, {"bench", "-help"}} {
		code, stdout, stderr := runCLI(ctx, args...)
		if code != ExitSucceeded {
			t.Errorf("nbv %v: exit %d, want 0\n%s", args, code, stderr)
		}
		if args[0] == "--help" && !strings.Contains(stdout, "Exit codes:") {
			t.Errorf("nbv --help does not document the exit codes:\n%s", stdout)
		}
	}
	code, _, stderr := runCLI(ctx)
	if code != ExitUsage || !strings.Contains(stderr, "submit") {
		t.Errorf("bare nbv: exit %d, want 2 with the commands listed\n%s", code, stderr)
	}
}

// Mistakes in the call are exit 2 with a message naming what is wrong and a pointer to help.
func TestUsageErrorsExitTwo(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"submit", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"submit"}, "-f FILE is required"},
		{[]string{"get", "-o", "xml", "job"}, `--output "xml": want json, yaml or wide`},
		{[]string{"submit", "-f", "x.yaml", "-o", "wide"}, `--output "wide": want json or yaml`},
		{[]string{"version", "-o", "table"}, `--output "table": want json or yaml`},
		{[]string{"get"}, "name one job (got 0 arguments)"},
		{[]string{"delete", "a", "b"}, "name one job (got 2 arguments)"},
		{[]string{"validate"}, "name exactly one notebook"},
		{[]string{"validate", "nb.ipynb", "-p", "novalue"}, "novalue"},
		{[]string{"bench", "-chaos", "bogus"}, `"bogus" is not one of all, kill, duplicate, drop, restart`},
		{[]string{"bench", "--mix", "nobuild=x"}, "mix"},
	} {
		code, stdout, stderr := runCLI(ctx, tc.args...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "--help' for usage") {
			t.Errorf("nbv %v: exit %d, stderr %q; want exit 2, %q and a pointer to --help", tc.args, code, stderr, tc.want)
		}
		if stdout != "" {
			t.Errorf("nbv %v printed on stdout: %q", tc.args, stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	ctx := context.Background()
	if code, stdout, _ := runCLI(ctx, "version"); code != 0 || stdout != version.String()+"\n" {
		t.Errorf("nbv version: exit %d, %q; want %q", code, stdout, version.String())
	}
	code, stdout, _ := runCLI(ctx, "version", "-o", "json")
	var v struct{ Version string }
	if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil || v.Version != version.String() {
		t.Errorf("nbv version -o json: exit %d, %q (%v)", code, stdout, err)
	}
	if code, stdout, _ := runCLI(ctx, "version", "-o", "yaml"); code != 0 || stdout != "version: "+version.String()+"\n" {
		t.Errorf("nbv version -o yaml: exit %d, %q", code, stdout)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, stdout, stderr := runCLI(context.Background(), "completion", shell)
		if code != 0 || !strings.Contains(stdout, "nbv") {
			t.Errorf("nbv completion %s: exit %d, %d bytes\n%s", shell, code, len(stdout), stderr)
		}
	}
	if code, _, _ := runCLI(context.Background(), "completion", "tcsh"); code != ExitUsage {
		t.Errorf("nbv completion tcsh: exit %d, want 2", code)
	}
}

// Help texts state a default once: pflag appends "(default X)" to a flag whose default is not
// its zero value, so its usage must not say it again; and nothing prints Go syntax (map[...]).
func TestHelpStatesEachDefaultOnce(t *testing.T) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			zero := map[string]bool{"": true, "0": true, "0s": true, "false": true, "[]": true}
			if !zero[f.DefValue] && strings.Contains(f.Usage, "(default") {
				t.Errorf("nbv %s --%s: usage %q repeats the default %q pflag prints", c.Name(), f.Name, f.Usage, f.DefValue)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := NewRoot(strings.NewReader(""), io.Discard, io.Discard)
	walk(root)
	for _, sub := range root.Commands() {
		code, stdout, _ := runCLI(context.Background(), sub.Name(), "--help")
		if code != 0 || strings.Contains(stdout, "map[") {
			t.Errorf("nbv %s --help: exit %d or Go syntax in:\n%s", sub.Name(), code, stdout)
		}
	}
}

// Flags spelled with one dash, as Go's flag package took them (the Makefile runs
// `nbv bench -n N -chaos all -timeout 60m -out F`), reach the same flags; shorthands and
// values are left alone.
func TestOneDashLongFlags(t *testing.T) {
	root := NewRoot(strings.NewReader(""), io.Discard, io.Discard)
	got := longFlagsWithTwoDashes(root, []string{"bench", "-n", "5", "-chaos", "all", "-timeout=60m", "-out", "-x", "--", "-chaos"})
	want := []string{"bench", "-n", "5", "--chaos", "all", "--timeout=60m", "--out", "-x", "--", "-chaos"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rewritten %q, want %q", got, want)
	}
	ci := []string{"ci-event", "-url", "http://x"}
	if got := longFlagsWithTwoDashes(root, ci); strings.Join(got, " ") != strings.Join(ci, " ") {
		t.Errorf("ci-event parses its own flags; rewritten to %q", got)
	}
}
