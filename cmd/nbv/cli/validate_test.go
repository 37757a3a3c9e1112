package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/runner/execute"
)

// TestValidateWritesHTMLReport runs `nbv validate --html` on a notebook whose outputs differ
// from its golden copy: exit code 1, and the HTML file shows the differing cell side by side.
func TestValidateWritesHTMLReport(t *testing.T) {
	if err := exec.Command(execute.DefaultPython, "-c", "import nbclient, ipykernel").Run(); err != nil {
		t.Skipf("%s lacks nbclient/ipykernel: %v", execute.DefaultPython, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	html := filepath.Join(t.TempDir(), "report.html")
	fixtures := "../../../test/fixtures/notebooks/"
	code, stdout, stderr := runCLI(ctx, "validate", fixtures+"xss.ipynb", "--golden", fixtures+"xss.golden.ipynb", "--html", html, "--output-dir", t.TempDir())
	if code != 1 {
		t.Fatalf("validate: exit code %d, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "--- golden cell") || !strings.Contains(stdout, "+++ executed cell") {
		t.Errorf("the terminal shows no unified diff of the differing output:\n%s", stdout)
	}
	if !strings.Contains(stderr, "python ") {
		t.Errorf("stderr does not say which Python ran the notebook:\n%s", stderr)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "<th>golden cell 3</th><th>executed cell 3</th>") || !strings.Contains(string(page), `<pre class="udiff">`) || strings.Contains(strings.ToLower(string(page)), "<script") {
		t.Errorf("HTML report lacks the side-by-side diff or carries a script:\n%.2000s", page)
	}
}

// Without --out, a run leaves nothing in the temporary directory, unless --keep asks for its
// directory (whose path is printed); with --out the files are where the user said.
func TestValidateLeavesNoDirectoryBehind(t *testing.T) {
	if err := exec.Command(execute.DefaultPython, "-c", "import nbclient, ipykernel").Run(); err != nil {
		t.Skipf("%s lacks nbclient/ipykernel: %v", execute.DefaultPython, err)
	}
	nb := filepath.Join(t.TempDir(), "hello.ipynb")
	doc := `{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
	 "cells": [{"cell_type": "code", "id": "a1", "metadata": {}, "execution_count": null, "outputs": [], "source": "print('hello')"}]}`
	if err := os.WriteFile(nb, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	// validate writes its progress and the kept directory's path to stderr.
	stderr := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		code, _, stderr := runCLI(ctx, append([]string{"validate", nb}, args...)...)
		if code != 0 {
			t.Fatalf("validate %v: exit code %d\n%s", args, code, stderr)
		}
		return stderr
	}
	leftovers := func() []string {
		t.Helper()
		m, err := filepath.Glob(filepath.Join(tmp, "nbv-*"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	if out := stderr(); len(leftovers()) != 0 || strings.Contains(out, "kept") {
		t.Fatalf("a plain run left %v behind; stderr:\n%s", leftovers(), out)
	}

	out := stderr("--keep")
	kept := leftovers()
	if len(kept) != 1 || !strings.Contains(out, "kept the run's directory "+kept[0]) {
		t.Fatalf("--keep kept %v; stderr:\n%s", kept, out)
	}
	if _, err := os.Stat(filepath.Join(kept[0], "executed.ipynb")); err != nil {
		t.Errorf("kept directory: %v", err)
	}
	if err := os.RemoveAll(kept[0]); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "results")
	stderr("--out", dir)
	for _, f := range []string{"report.json", "report.html", "junit.xml", "executed.ipynb"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("--out: %v", err)
		}
	}
	if len(leftovers()) != 0 {
		t.Errorf("--out left %v in the temporary directory", leftovers())
	}
}
