package main

import (
	"context"
	"errors"
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
	fixtures := "../../test/fixtures/notebooks/"
	err := validate(ctx, []string{fixtures + "xss.ipynb", "--golden", fixtures + "xss.golden.ipynb", "--html", html, "--output-dir", t.TempDir()})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 1 {
		t.Fatalf("validate: %v, want exit code 1", err)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "<th>golden cell 3</th><th>executed cell 3</th>") || strings.Contains(strings.ToLower(string(page)), "<script") {
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
	// validate writes its progress and the kept directory's path to os.Stderr.
	stderr := func(args ...string) string {
		t.Helper()
		f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		saved := os.Stderr
		os.Stderr = f
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		err = validate(ctx, append([]string{nb}, args...))
		os.Stderr = saved
		if err != nil {
			t.Fatalf("validate %v: %v", args, err)
		}
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
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
