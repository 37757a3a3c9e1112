package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/cmd/nbv/cli"
	"github.com/mlops-dev/nbv/internal/jobstore"
)

// nbvJob is a job manifest named name.
func nbvJob(name string) string {
	return `apiVersion: mlops.mlops.dev/v1alpha1
kind: NotebookValidationJob
metadata:
  name: ` + name + `
spec:
  notebook:
    git:
      url: https://github.com/example/notebooks.git
      ref: main
    path: nb.ipynb
  podConfig:
    containerImage: python:3.12
`
}

// nbv runs the command line in-process, as the binary would, and returns its exit code,
// stdout and stderr.
func nbv(ctx context.Context, stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.Execute(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// finishJob waits for the job to exist and writes its terminal status, as pod-completed would.
func finishJob(ctx context.Context, store *jobstore.Store, ns, name string, status v1alpha1.NotebookValidationJobStatus) error {
	for {
		job, err := store.Get(ctx, ns, name)
		if err == nil {
			now := metav1.Now()
			status.StartTime, status.CompletionTime = &now, &now
			_, err = store.PatchStatus(ctx, job, status)
			return err
		}
		if !errors.Is(err, jobstore.ErrJobNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// finishing runs finishJob in the background and returns what to call once the CLI ended: it
// waits for finishJob's write, since the CLI can see the write's watch event before the
// write's own answer arrives, and cancels it only when the CLI ended without the job.
func finishing(ctx context.Context, store *jobstore.Store, ns, name string, status v1alpha1.NotebookValidationJobStatus) func() error {
	finishCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- finishJob(finishCtx, store, ns, name, status) }()
	return func() error {
		defer stop()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			stop()
			return <-done
		}
	}
}

// TestCLI drives nbv against the real API server: submit follows a job with a watch to its
// exit code and prints what failed; multi-document manifests; list/get as kubectl shows them;
// delete; and the hint for a job nothing acts on.
func TestCLI(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := newNamespace(t, ctx, cp)
	store, err := jobstore.New(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	conn := []string{"--kubeconfig", cp.KubeconfigPath(), "-n", ns}
	run := func(stdin string, args ...string) (int, string, string) {
		return nbv(ctx, stdin, append(args, conn...)...)
	}

	t.Run("submit succeeded", func(t *testing.T) {
		finished := finishing(ctx, store, ns, "ok", v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseSucceeded, Message: "notebook passed"})
		code, stdout, stderr := run(nbvJob("ok"), "submit", "-f", "-", "--timeout", "1m")
		if err := finished(); err != nil {
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		if code != 0 || !strings.Contains(stdout, "Succeeded: notebook passed") {
			t.Errorf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})

	t.Run("submit failed prints traceback and diff", func(t *testing.T) {
		failed := v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseFailed, Message: "cell 1 raised ZeroDivisionError",
			Results: []v1alpha1.CellResult{{CellIndex: 1, Status: v1alpha1.CellStatusFailure, ErrorMessage: "ZeroDivisionError: division by zero",
				Output: "----> 1 1/0\nZeroDivisionError: division by zero"}},
			ComparisonResult: &v1alpha1.ComparisonResult{Strategy: "normalized", Result: "failed", TotalCells: 2, MatchedCells: 1, MismatchedCells: 1,
				Diffs: []v1alpha1.CellDiff{{CellIndex: 0, CellType: "code", DiffType: "output_mismatch", Severity: "major", Expected: "loss 0.5", Actual: "loss 0.7"}}}}
		finished := finishing(ctx, store, ns, "bad", failed)
		code, stdout, stderr := run(nbvJob("bad"), "submit", "-f", "-", "-o", "json", "--timeout", "1m")
		if err := finished(); err != nil {
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		var final v1alpha1.NotebookValidationJob
		if err := json.Unmarshal([]byte(stdout), &final); err != nil || final.Status.Phase != v1alpha1.PhaseFailed {
			t.Errorf("-o json: stdout is not the finished job (%v):\n%s", err, stdout)
		}
		for _, want := range []string{"cell 1 traceback (end):", "ZeroDivisionError: division by zero", "- expected: loss 0.5", "+ actual:   loss 0.7"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("progress on stderr (-o json) lacks %q:\n%s", want, stderr)
			}
		}
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})

	t.Run("multi-document", func(t *testing.T) {
		code, stdout, stderr := run(nbvJob("m1")+"---\n"+nbvJob("m2"), "submit", "-f", "-", "--no-wait", "-o", "yaml")
		var list struct {
			Kind  string
			Items []v1alpha1.NotebookValidationJob
		}
		if err := yaml.Unmarshal([]byte(stdout), &list); code != 0 || err != nil || list.Kind != "List" || len(list.Items) != 2 {
			t.Fatalf("exit %d (%v), want a List of the two jobs:\n%s\n%s", code, err, stdout, stderr)
		}
		code, _, stderr = run(nbvJob("m3")+"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m4\n", "submit", "-f", "-", "--no-wait")
		if code != 2 || !strings.Contains(stderr, "document 2") || !strings.Contains(stderr, "ConfigMap") {
			t.Errorf("a second document that is not a job: exit %d, %q", code, stderr)
		}
		if _, err := store.Get(ctx, ns, "m3"); !errors.Is(err, jobstore.ErrJobNotFound) {
			t.Errorf("the valid first document was created anyway: %v", err)
		}
	})

	t.Run("list and get", func(t *testing.T) {
		code, stdout, stderr := run("", "list")
		if code != 0 || !strings.HasPrefix(stdout, "NAME ") || !strings.Contains(stdout, "PHASE") || !strings.Contains(stdout, "MESSAGE") ||
			strings.Contains(stdout, "GIT-URL") || !strings.Contains(stdout, "\nbad ") || !strings.Contains(stdout, "Failed") {
			t.Errorf("list: exit %d\n%s%s", code, stdout, stderr)
		}
		if code, stdout, _ := run("", "list", "-o", "wide"); code != 0 || !strings.Contains(stdout, "GIT-URL") || !strings.Contains(stdout, "https://github.com/example/notebooks.git") {
			t.Errorf("list -o wide: exit %d\n%s", code, stdout)
		}
		if code, stdout, _ := nbv(ctx, "", "list", "-A", "--kubeconfig", cp.KubeconfigPath()); code != 0 || !strings.HasPrefix(stdout, "NAMESPACE ") || !strings.Contains(stdout, ns) {
			t.Errorf("list -A: exit %d\n%s", code, stdout)
		}
		code, stdout, _ = run("", "get", "ok", "-o", "json")
		var job v1alpha1.NotebookValidationJob
		if err := json.Unmarshal([]byte(stdout), &job); code != 0 || err != nil || job.Name != "ok" || job.Status.Phase != v1alpha1.PhaseSucceeded {
			t.Errorf("get -o json: exit %d (%v)\n%s", code, err, stdout)
		}
		if code, stdout, _ := run("", "get", "ok"); code != 0 || !strings.Contains(stdout, "ok ") || strings.Count(stdout, "\n") != 2 {
			t.Errorf("get: exit %d\n%s", code, stdout)
		}
		if code, _, stderr := run("", "get", "nope"); code != 2 || !strings.Contains(stderr, `"nope" not found`) {
			t.Errorf("get a missing job: exit %d, %q", code, stderr)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if code, stdout, stderr := run("", "delete", "m1", "--wait"); code != 0 || !strings.Contains(stdout, `"m1" deleted`) {
			t.Errorf("delete: exit %d, %q %q", code, stdout, stderr)
		}
		if _, err := store.Get(ctx, ns, "m1"); !errors.Is(err, jobstore.ErrJobNotFound) {
			t.Errorf("m1 still there: %v", err)
		}
		if code, _, _ := run("", "delete", "m1"); code != 2 {
			t.Errorf("deleting a missing job: exit %d, want 2", code)
		}
	})

	// The namespace carries the label but not the RoleBindings: no function may act there, the
	// job keeps an empty phase, and submit says what is missing instead of only waiting.
	t.Run("no phase: opt-in hint", func(t *testing.T) {
		code, stdout, stderr := run(nbvJob("stuck"), "submit", "-f", "-", "--hint-after", "500ms", "--timeout", "3s")
		for _, want := range []string{"no phase yet", "namespace " + ns + " has the label " + v1alpha1.OptInLabel + "=" + v1alpha1.OptInValue,
			"lacks the RoleBindings nbv-job-created, nbv-pod-completed", "kubectl apply -n " + ns + " -f config/rbac/opt-in/"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
		if code != 2 || !strings.Contains(stderr, "did not finish within 3s") {
			t.Errorf("exit %d, want 2 with a timeout message: %q", code, stderr)
		}
	})
}
