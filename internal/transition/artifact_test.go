package transition

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

func TestArtifactEventSaysWhereTheRecordIs(t *testing.T) {
	job := &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "demo"}}
	ref := "registry.example.com/nbv/team-a@sha256:" + strings.Repeat("ab", 32)
	st := &v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseSucceeded,
		Artifact: &v1alpha1.ArtifactStatus{Reference: ref, Files: []string{"executed.ipynb", "report.html"}}}
	typ, reason, msg, ok := ArtifactEvent(job, v1alpha1.PhaseValidationRunning, st)
	if !ok || typ != corev1.EventTypeNormal || reason != ReasonArtifactPushed ||
		msg != "the run's executed notebook and reports (executed.ipynb, report.html) are at "+ref+"; fetch them with: nbv report -n team-a demo" {
		t.Errorf("%v %s %s %q", ok, typ, reason, msg)
	}
	st.Artifact = &v1alpha1.ArtifactStatus{Message: "pushing failed: 401"}
	if typ, reason, msg, ok := ArtifactEvent(job, v1alpha1.PhaseValidationRunning, st); !ok || typ != corev1.EventTypeWarning || reason != ReasonArtifactPushFailed || msg != "pushing failed: 401" {
		t.Errorf("failed push: %v %s %s %q", ok, typ, reason, msg)
	}
	if _, _, _, ok := ArtifactEvent(job, v1alpha1.PhaseSucceeded, st); ok {
		t.Error("an Event for a job that had already ended")
	}
	reused := st.DeepCopy()
	reused.Artifact = &v1alpha1.ArtifactStatus{Reference: ref}
	reused.ReusedRun = &v1alpha1.ReusedRun{Namespace: "team-a", Name: "yesterday", UID: "u", ArtifactReference: ref}
	if _, _, _, ok := ArtifactEvent(job, v1alpha1.PhaseInitializing, reused); ok {
		t.Error("an artifact Event for a job that reused an earlier run's artifact and pushed nothing")
	}
	st.Artifact = nil
	if _, _, _, ok := ArtifactEvent(job, v1alpha1.PhaseValidationRunning, st); ok {
		t.Error("an Event without an artifact")
	}
}

func TestTerminalDecisionRecordsTheArtifact(t *testing.T) {
	job := &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "demo", UID: "u"},
		Status: v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseValidationRunning, ValidationPodName: "p"}}
	a := &v1alpha1.ArtifactStatus{Reference: "r/x@sha256:" + strings.Repeat("cd", 32), Files: []string{"report.html"}}
	d := statemachine.Decide(job, statemachine.Observation{Kind: statemachine.PodSucceeded, Now: metav1.Now(), PodName: "p", Artifact: a,
		Results: []v1alpha1.CellResult{{CellIndex: 0, Status: v1alpha1.CellStatusSuccess}}})
	if !d.Changed || d.Status.Phase != v1alpha1.PhaseSucceeded || d.Status.Artifact == nil || d.Status.Artifact.Reference != a.Reference {
		t.Fatalf("decision %+v", d.Status)
	}
	if d.Status.Artifact == a {
		t.Error("the decision shares the observation's artifact")
	}
}
