package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

func TestPrepareFailureWritesErrorSummary(t *testing.T) {
	tl := filepath.Join(t.TempDir(), "termination-log")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"prepare", "--workspace", t.TempDir(), "--termination-log", tl,
		"--notebook-url", "file://" + filepath.Join(t.TempDir(), "absent"), "--notebook-ref", "main", "--notebook-path", "a.ipynb"}, &out, &errb)
	if code != 2 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	b, _ := os.ReadFile(tl)
	s, err := summary.Decode(b)
	if err != nil || s.Result != summary.ResultError || s.Reason != summary.ReasonRepoNotFound {
		t.Errorf("summary %s: %v", b, err)
	}
}

func TestExecuteFromJobSpecEnv(t *testing.T) {
	if exec.Command("/usr/bin/python3", "-c", "import nbclient").Run() != nil {
		t.Skip("no nbclient")
	}
	ws := t.TempDir()
	src, err := os.ReadFile("../../test/fixtures/notebooks/params.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(filepath.Join(ws, "notebook"), 0o755)
	if err := os.WriteFile(filepath.Join(ws, "notebook", "p.ipynb"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NBV_JOB_SPEC", `{"notebook":{"git":{"url":"file:///x","ref":"main"},"path":"p.ipynb"},"podConfig":{"containerImage":"i"},
		"execution":{"parameters":{"n":5}}}`)
	tl := filepath.Join(t.TempDir(), "termination-log")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"execute", "--workspace", ws, "--termination-log", tl}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d (want 1: n=5 fails the assert)\n%s\n%s", code, out.String(), errb.String())
	}
	b, _ := os.ReadFile(tl)
	if s, err := summary.Decode(b); err != nil || s.Reason != summary.ReasonCellFailed || s.FirstFailure.Error != "AssertionError: 105" {
		t.Errorf("summary %s: %v", b, err)
	}
	for _, f := range []string{"report.json", "executed.ipynb", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(ws, "output", f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(out.String(), "cell 3: failure") || !strings.Contains(out.String(), "nbv-report: {") {
		t.Errorf("log lacks progress or report:\n%s", out.String())
	}
}

// The golden repository never receives the notebook repository's credentials.
func TestPrepareOptionsKeepCredentialsApart(t *testing.T) {
	spec := &v1alpha1.NotebookValidationJobSpec{
		Notebook:       v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "https://a.example/nb.git", Ref: "main"}, Path: "nb.ipynb"},
		GoldenNotebook: &v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "https://b.example/golden.git", Ref: "v1"}, Path: "g.ipynb"},
	}
	o := prepareOptions(spec, prepareFlags{notebook: sourceFlags{credentialsDir: "/creds/notebook"}})
	if o.Notebook.CredentialsDir != "/creds/notebook" {
		t.Errorf("notebook credentials = %q", o.Notebook.CredentialsDir)
	}
	if o.Golden == nil || o.Golden.URL != "https://b.example/golden.git" || o.Golden.Ref != "v1" {
		t.Fatalf("golden source = %+v", o.Golden)
	}
	if o.Golden.CredentialsDir != "" {
		t.Errorf("golden got credentials %q without a golden Secret; want none", o.Golden.CredentialsDir)
	}
	o = prepareOptions(spec, prepareFlags{golden: sourceFlags{credentialsDir: "/creds/golden", ref: "v2"}})
	if o.Golden.CredentialsDir != "/creds/golden" || o.Golden.Ref != "v2" || o.Notebook.CredentialsDir != "" {
		t.Errorf("flags not applied to the right repository: notebook %+v golden %+v", o.Notebook, o.Golden)
	}
}
