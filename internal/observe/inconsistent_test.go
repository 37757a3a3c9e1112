package observe

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// A summary that says passed while counting failed cells reaches the machine as a PodFailed
// whose reason the machine knows, so the job fails as InconsistentSummary, not as a notebook
// failure and not with the summary's results.
func TestInconsistentSummaryReachesTheMachine(t *testing.T) {
	lie := summary.Summary{Result: summary.ResultPassed, Reason: summary.ReasonPassed, Message: "all good",
		Cells: summary.Counts{Total: 3, Failed: 3}}
	obs := Pod("nb-validation", terminatedPod(0, lie))
	if obs.Kind != statemachine.PodFailed || obs.Reason != validationpod.ReasonInconsistent || obs.Results != nil {
		t.Fatalf("observation = %s/%s with %d results, want PodFailed/%s with none", obs.Kind, obs.Reason, len(obs.Results), validationpod.ReasonInconsistent)
	}
	job := &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "ns"},
		Status: v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseValidationRunning, ValidationPodName: "nb-validation"}}
	obs.Now = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	d := statemachine.Decide(job, obs)
	if d.Status.Phase != v1alpha1.PhaseFailed || d.Reason != statemachine.ReasonInconsistentSummary {
		t.Errorf("decision = %s/%s (%s), want Failed/%s", d.Status.Phase, d.Reason, d.Status.Message, statemachine.ReasonInconsistentSummary)
	}
}
