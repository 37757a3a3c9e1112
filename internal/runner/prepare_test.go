package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/mlops-dev/nbv/internal/runner"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// notebookRepo makes a repository on branch main with nb/pass.ipynb, bad.ipynb (not a notebook)
// and golden.ipynb.
func notebookRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	files := map[string]string{"nb/pass.ipynb": fixtures + "pass.ipynb", "bad.ipynb": fixtures + "not-a-notebook.ipynb", "golden.ipynb": fixtures + "compute.golden.ipynb"}
	for dst, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(dst); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := wt.Commit("notebooks", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@e", When: time.Unix(1, 0)}}); err != nil {
		t.Fatal(err)
	}
	return "file://" + dir
}

func TestPrepare(t *testing.T) {
	url := notebookRepo(t)
	ws, install := t.TempDir(), t.TempDir()
	p, err := runner.Prepare(context.Background(), runner.PrepareOptions{InstallDir: install, Workspace: ws,
		Notebook: runner.Source{URL: url, Ref: "main", Path: "nb/pass.ipynb"},
		Golden:   &runner.Source{URL: url, Ref: "main", Path: "golden.ipynb"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Notebook != filepath.Join(ws, "notebook", "nb", "pass.ipynb") || p.Golden != filepath.Join(ws, "notebook", "golden.ipynb") || len(p.NotebookCommit) != 40 {
		t.Errorf("prepared %+v", p)
	}
	if st, err := os.Stat(filepath.Join(install, runner.BinaryName)); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("runner not installed executable: %v", err)
	}
	// The notebook container may run as another user: it must be able to write beside the notebook.
	for _, path := range []string{filepath.Dir(p.Notebook), p.Notebook} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm()&0o002 == 0 {
			t.Errorf("%s is not writable by other users (mode %v, %v)", path, st.Mode(), err)
		}
	}

	for _, tc := range []struct{ path, ref, reason string }{
		{"nb/absent.ipynb", "main", summary.ReasonNotebookNotFound},
		{"bad.ipynb", "main", summary.ReasonNotANotebook},
		{"../escape.ipynb", "main", summary.ReasonNotebookNotFound},
		{"nb/pass.ipynb", "no-such-branch", summary.ReasonRefNotFound},
	} {
		_, err := runner.Prepare(context.Background(), runner.PrepareOptions{Workspace: t.TempDir(),
			Notebook: runner.Source{URL: url, Ref: tc.ref, Path: tc.path}})
		if got := runner.Reason(err); got != tc.reason {
			t.Errorf("%s@%s: reason %q (%v), want %s", tc.path, tc.ref, got, err, tc.reason)
		}
	}
}
