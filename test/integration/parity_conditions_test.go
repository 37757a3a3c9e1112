package integration

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
)

// TestKubectlWaitValidationComplete: CI scripts written for the existing operator run
// `kubectl wait --for=condition=ValidationComplete`; it must return for a passing notebook
// and time out for a failing one, whose condition is False (and waitable as such).
func TestKubectlWaitValidationComplete(t *testing.T) {
	f := newFixture(t, 1)
	passing, failing := f.validatingPair("passes", "fails")

	// While the notebook runs, the wait does not return.
	if out, err := f.kubectlWait("passes", "condition=ValidationComplete", "2s"); err == nil {
		t.Fatalf("kubectl wait returned while the notebook was running:\n%s", out)
	}
	f.completePod(passing.Status.ValidationPodName, 0, passedSummary())
	f.completePod(failing.Status.ValidationPodName, 1, failedSummary())

	if out, err := f.kubectlWait("passes", "condition=ValidationComplete", "30s"); err != nil {
		t.Fatalf("kubectl wait on the passing job: %v\n%s", err, out)
	}
	f.waitJob("fails", "Failed", phaseIs(v1alpha1.PhaseFailed))
	if out, err := f.kubectlWait("fails", "condition=ValidationComplete", "2s"); err == nil {
		t.Fatalf("kubectl wait --for=condition=ValidationComplete returned for a failed notebook:\n%s", out)
	}
	if out, err := f.kubectlWait("fails", "condition=ValidationComplete=false", "30s"); err != nil {
		t.Fatalf("kubectl wait for ValidationComplete=false on the failed job: %v\n%s", err, out)
	}
	failed, err := f.store.Get(f.ctx, f.ns, "fails")
	if err != nil {
		t.Fatal(err)
	}
	cond := findCondition(failed, v1alpha1.ConditionValidationComplete)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != "NotebookFailed" {
		t.Errorf("failed job's ValidationComplete = %+v, want False/NotebookFailed", cond)
	}
}

// kubectlWait runs kubectl wait for the job, as a CI script would.
func (f *fixture) kubectlWait(name, condition, timeout string) (string, error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	kubectl := filepath.Join(controlplane.DefaultBinDir(), "kubectl")
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", f.cp.KubeconfigPath(), "-n", f.ns,
		"wait", "nvj/"+name, "--for="+condition, "--timeout="+timeout).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// validatingPair creates two jobs and waits until both validate: tests then finish one with a
// passing notebook and the other with a failing one.
func (f *fixture) validatingPair(a, b string) (*v1alpha1.NotebookValidationJob, *v1alpha1.NotebookValidationJob) {
	f.t.Helper()
	f.createJob(a, nil)
	f.createJob(b, nil)
	return f.waitJob(a, "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning)),
		f.waitJob(b, "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
}
