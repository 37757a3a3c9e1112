package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	if out, err := exec.Command("go", "build", "-o", runner, "github.com/mlops-dev/nbv/cmd/nbv-runner").CombinedOutput(); err != nil {
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
			// One-dash long flags, as the Makefile and older scripts spell them.
			code, stdout, stderr := runCLI(ctx, "run", "-runner", runner, "--functions-dir", functions, "--notebook", tc.notebook, "--golden", tc.golden, "--timeout", "2m")
			if code != tc.wantCode {
				t.Errorf("nbv run exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout, stderr)
			}
			if tc.wantCode == 1 && !strings.Contains(stdout, "traceback (end)") && !strings.Contains(stdout, "golden comparison") {
				t.Errorf("a failed job's output shows neither a traceback nor the golden differences:\n%s", stdout)
			}
		})
	}
}
