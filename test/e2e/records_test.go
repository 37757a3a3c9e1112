//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/realcluster"
)

// TestRunRecordFetchedAndReused: a job pinned to a commit and an image digest that asks for
// reuse runs; its validation pod's publish sidecar pushes the run's record to the cluster's
// registry, and `nbv report` fetches the executed notebook and report.html back from outside
// the cluster. A second job with the same inputs ends Succeeded by reusing that run, with no
// validation pod, and names the run it reused. It prints created -> Succeeded for both.
func TestRunRecordFetchedAndReused(t *testing.T) {
	repo, commit := gitRepoServerAt(t, map[string][]byte{"notebooks/compute.ipynb": notebookFixture(t, "compute.ipynb")})
	const ns = "e2e-records"
	optedInNamespace(t, ns)
	image := realcluster.Registry + "/nbv/notebook@" + cluster.NotebookImageDigest

	fresh, freshTook := runPinnedJob(t, ns, "fresh", repo, commit, image)
	if fresh.Status.ValidationPodName == "" {
		t.Fatal("the first run names no validation pod")
	}
	if fresh.Status.Artifact == nil || !strings.HasPrefix(fresh.Status.Artifact.Reference, realcluster.Registry+"/nbv-runs/"+ns+"@sha256:") {
		t.Fatalf("status.artifact %+v, want the record pushed to %s/nbv-runs/%s by digest", fresh.Status.Artifact, realcluster.Registry, ns)
	}
	dir := t.TempDir()
	out, err := runNBV(t, "report", "fresh", "-n", ns, "--kubeconfig", cluster.ControlPlane.KubeconfigPath(), "--insecure", "-o", dir)
	if err != nil {
		t.Fatalf("nbv report: %v\n%s", err, out)
	}
	executed, err := os.ReadFile(filepath.Join(dir, "executed.ipynb"))
	if err != nil || !strings.Contains(string(executed), "0.30000000000000004") {
		t.Errorf("executed.ipynb from the record (%v) does not hold the run's output 0.30000000000000004", err)
	}
	if html, err := os.ReadFile(filepath.Join(dir, "report.html")); err != nil || !strings.Contains(string(html), "<html") {
		t.Errorf("report.html from the record: %v", err)
	}

	reused, reusedTook := runPinnedJob(t, ns, "again", repo, commit, image)
	cond := meta.FindStatusCondition(reused.Status.Conditions, v1alpha1.ConditionReused)
	if cond == nil || cond.Status != metav1.ConditionTrue || !strings.Contains(cond.Message, ns+"/fresh") {
		t.Errorf("Reused condition %+v, want True naming %s/fresh", cond, ns)
	}
	if reused.Status.ReusedRun == nil || reused.Status.ReusedRun.Name != "fresh" || reused.Status.ReusedRun.ArtifactReference != fresh.Status.Artifact.Reference {
		t.Errorf("status.reusedRun %+v, want the first run and its record", reused.Status.ReusedRun)
	}
	pods, err := kube(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: v1alpha1.LabelJob + "=again"})
	if err != nil || len(pods.Items) != 0 || reused.Status.ValidationPodName != "" {
		t.Errorf("the reused job has validation pods %v (%v), status names %q: want none", pods, err, reused.Status.ValidationPodName)
	}
	fmt.Printf("e2e: kubectl apply -> Succeeded: a fresh run %s (its record pushed), a run reused from it %s\n", freshTook.Round(10*time.Millisecond), reusedTook.Round(10*time.Millisecond))
}

// runPinnedJob applies a job that asks for reuse, its notebook at commit and its image pinned,
// waits until it ends Succeeded, and returns it with how long that took.
func runPinnedJob(t *testing.T, namespace, name, repo, commit, image string) (v1alpha1.NotebookValidationJob, time.Duration) {
	t.Helper()
	manifest := fmt.Sprintf(`apiVersion: mlops.mlops.dev/v1alpha1
kind: NotebookValidationJob
metadata:
  name: %s
  namespace: %s
  annotations:
    %s: "true"
spec:
  notebook:
    git:
      url: %s
      ref: %s
    path: notebooks/compute.ipynb
  podConfig:
    containerImage: %s
  timeout: 5m
`, name, namespace, v1alpha1.AnnotationReuse, repo, commit, image)
	start := time.Now()
	if _, err := kubectl(t, manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	job := waitPhase(t, namespace, name, 5*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	took := time.Since(start)
	if job.Status.Phase != v1alpha1.PhaseSucceeded {
		t.Fatalf("job %s: phase %s: %s", name, job.Status.Phase, job.Status.Message)
	}
	return job, took
}
