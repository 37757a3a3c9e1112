package statemachine

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// A pod whose runner summary cannot be trusted fails the job with its own reason, in the Ready
// and ValidationComplete conditions alike, keeping no results and creating no new pod; any
// other PodFailed reason stays a notebook failure.
func TestInconsistentSummaryFailsWithItsOwnReason(t *testing.T) {
	job := sampleJob(v1alpha1.PhaseValidationRunning, "")
	for reason, want := range map[string]string{
		ReasonInconsistentSummary: ReasonInconsistentSummary,
		"CellFailed":              ReasonNotebookFailed,
		"":                        ReasonNotebookFailed,
	} {
		obs := sampleObservation(job, PodFailed)
		obs.Reason, obs.Message, obs.Results = reason, "the runner summary cannot be trusted: cells.total 3 is not passed 0 + failed 0 + skipped 0", nil
		d := Decide(job, obs)
		if d.Status.Phase != v1alpha1.PhaseFailed || d.Reason != want || d.Effect != EffectNone || d.Status.Message != obs.Message {
			t.Errorf("reason %q: got phase %s reason %s effect %q message %q; want Failed/%s with the observed message",
				reason, d.Status.Phase, d.Reason, d.Effect, d.Status.Message, want)
		}
		for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionValidationComplete} {
			if c := meta.FindStatusCondition(d.Status.Conditions, typ); c == nil || c.Reason != want {
				t.Errorf("reason %q: condition %s = %+v, want reason %s", reason, typ, c, want)
			}
		}
	}
}
