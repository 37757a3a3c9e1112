package statemachine

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// A job waiting for its models is written once: the next event about the same unready model
// changes nothing, and a reading that does not list the model (the sweep's JobSeen) neither.
func TestWaitingForModelsIsWrittenOnce(t *testing.T) {
	job := modelJob(v1alpha1.PhaseInitializing, sampleUnreadyModel)
	first := Decide(job, sampleObservation(job, JobSeen))
	if !first.Changed || first.Status.Phase != v1alpha1.PhaseInitializing {
		t.Fatalf("first reading: changed %v phase %q, want a write that stays in Initializing", first.Changed, first.Status.Phase)
	}
	c := meta.FindStatusCondition(first.Status.Conditions, ConditionModelsReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonModelsNotReady || !strings.Contains(c.Message, "notebooks/"+sampleUnreadyModel) {
		t.Fatalf("ModelsReady condition %+v, want False/ModelsNotReady naming the model", c)
	}
	if !strings.Contains(first.Status.Message, sampleUnreadyModel) || first.Status.ModelValidationResult == nil {
		t.Fatalf("message %q result %+v: want the model named and the result recorded", first.Status.Message, first.Status.ModelValidationResult)
	}
	waiting := job.DeepCopy()
	waiting.Status = first.Status
	later := sampleObservation(waiting, JobSeen)
	later.Now = metav1.NewTime(sampleNow.Add(time.Second))
	if d := Decide(waiting, later); d.Changed {
		t.Errorf("the same reading again wrote %+v", d.Status)
	}
	if d := Decide(waiting, Observation{Kind: JobSeen, Now: later.Now}); d.Changed {
		t.Errorf("a JobSeen without a reading of the models wrote %+v", d.Status)
	}
}

// The model deadline runs from when the job began to wait, is earlier than the job's own, and
// passing it starts the job without its models, the reason recorded; the job's own deadline
// passing first still fails it.
func TestModelDeadline(t *testing.T) {
	job := modelJob(v1alpha1.PhaseInitializing, sampleUnreadyModel)
	waitStart := metav1.NewTime(sampleStart.Add(time.Minute))
	job.Status.Conditions = []metav1.Condition{{Type: ConditionModelsReady, Status: metav1.ConditionFalse, Reason: ReasonModelsNotReady,
		Message: "waiting for target model notebooks/sklearn-iris", LastTransitionTime: waitStart}}
	deadline, ok := Deadline(job)
	if !ok || !deadline.Equal(waitStart.Add(5*time.Minute)) {
		t.Fatalf("Deadline = %v, %v; want the wait's start + 5m", deadline, ok)
	}
	early := Decide(job, Observation{Kind: DeadlinePassed, Now: metav1.NewTime(deadline.Add(-time.Second))})
	if early.Status.Phase != v1alpha1.PhaseFailed {
		t.Errorf("DeadlinePassed before the model deadline: phase %q, want the job's own timeout", early.Status.Phase)
	}
	d := Decide(job, Observation{Kind: DeadlinePassed, Now: metav1.NewTime(deadline)})
	if d.Status.Phase != v1alpha1.PhaseValidationRunning || d.Effect != EffectCreateValidationPod {
		t.Fatalf("past the model deadline: phase %q effect %q, want the validation to start", d.Status.Phase, d.Effect)
	}
	r := d.Status.ModelValidationResult
	if r == nil || r.Success || !strings.Contains(r.Message, "not ready within modelValidation.timeout 5m0s") || !strings.Contains(r.Message, "sklearn-iris") {
		t.Errorf("result %+v, want why the job proceeded", r)
	}
	c := meta.FindStatusCondition(d.Status.Conditions, ConditionModelsReady)
	if c == nil || c.Reason != ReasonModelsTimedOut {
		t.Errorf("ModelsReady %+v, want reason %s", c, ReasonModelsTimedOut)
	}
	started := job.DeepCopy()
	started.Status = d.Status
	started.Status.Phase = v1alpha1.PhaseInitializing
	if AwaitsModels(started) {
		t.Errorf("a job whose wait timed out still awaits its models")
	}
}

// Nothing to wait for (platform not installed, target refused): the job starts at once with
// the result as read.
func TestNothingToWaitForStarts(t *testing.T) {
	job := modelJob(v1alpha1.PhaseInitializing, "other/model")
	result := v1alpha1.ModelValidationResult{Phase: "both", Platform: "kserve", Message: "cross-namespace model access is not allowed"}
	d := Decide(job, Observation{Kind: JobSeen, Now: sampleNow, Models: &ModelCheck{Result: result}})
	if d.Status.Phase != v1alpha1.PhaseValidationRunning || d.Status.ModelValidationResult == nil || d.Status.ModelValidationResult.Message != result.Message {
		t.Errorf("phase %q result %+v, want started with the result recorded", d.Status.Phase, d.Status.ModelValidationResult)
	}
	off := modelJob(v1alpha1.PhaseInitializing, sampleUnreadyModel)
	off.Spec.ModelValidation.Enabled = nil
	if AwaitsModels(off) {
		t.Errorf("model validation without enabled: true awaits models; the existing operator treats it as off")
	}
}
