package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
)

// TestRunLocal runs `nbv run` end to end: a real control plane, Knative's adapters, the
// broker, the functions and the host kubelet executing real notebooks with nbclient.
func TestRunLocal(t *testing.T) {
	if err := controlplane.CheckBinaries("", false); err != nil {
		if os.Getenv("NBV_SKIP_INTEGRATION") == "1" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	runner := filepath.Join(t.TempDir(), "nbv-runner")
	if out, err := exec.Command("go", "build", "-o", runner, "../nbv-runner").CombinedOutput(); err != nil {
		t.Fatalf("build nbv-runner: %v\n%s", err, out)
	}
	functions := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", functions+"/", "github.com/mlops-dev/nbv/functions/...").CombinedOutput(); err != nil {
		t.Fatalf("build the functions: %v\n%s", err, out)
	}
	root, err := controlplane.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	fixture := func(name string) string { return filepath.Join(root, "test", "fixtures", "notebooks", name) }
	cases := []struct {
		name, notebook, golden string
		wantCode               int
	}{
		{"passes against its golden", fixture("compute.ipynb"), fixture("compute.golden.ipynb"), 0},
		{"failing cell", fixture("fail.ipynb"), "", 1},
		{"outputs differ from golden", fixture("compute.ipynb"), fixture("compute.golden-outside-tol.ipynb"), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			err := runLocal(ctx, []string{"--runner", runner, "--functions-dir", functions, "--notebook", tc.notebook, "--golden", tc.golden, "--timeout", "2m"})
			code := 0
			var ee *ExitError
			switch {
			case errors.As(err, &ee):
				code = ee.Code
			case err != nil:
				t.Fatalf("nbv run: %v", err)
			}
			if code != tc.wantCode {
				t.Errorf("nbv run exit code = %d, want %d", code, tc.wantCode)
			}
		})
	}
}
