package statemachine

import (
	"fmt"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/modelspec"
)

// ConditionModelsReady says whether the job's target models were ready when it started
// (spec.modelValidation): False while it waits for them in Initializing, and False with
// ReasonModelsTimedOut once it stopped waiting.
const ConditionModelsReady = "ModelsReady"

// Model validation reasons (condition reasons of ModelsReady and decision reasons).
const (
	ReasonModelsNotReady = "ModelsNotReady"
	ReasonModelsReady    = "ModelsReady"
	ReasonModelsTimedOut = "ModelsTimedOut"
)

// ModelCheck is what a function read of a job's target models (internal/modelready), carried
// by a JobSeen observation. Waiting lists the targets that exist on a served platform and are
// not ready yet ("namespace/name"); empty means the job need not wait: every target is ready,
// or nothing can be waited for (the platform is not installed, a target was refused), which
// Result records as the existing operator does, without failing the job.
type ModelCheck struct {
	Waiting []string
	Message string // why the job waits, naming the targets
	Result  v1alpha1.ModelValidationResult
}

// AwaitsModels reports whether job is in Initializing (or legacy Pending) and may not start
// before its target models were checked: model validation is on and the wait did not time out.
// A function deciding JobSeen for such a job reads the models (Observation.Models); without
// that reading the job stays as it is.
func AwaitsModels(job *v1alpha1.NotebookValidationJob) bool {
	if job == nil || !modelspec.Enabled(job) {
		return false
	}
	switch job.Status.Phase {
	case v1alpha1.PhaseInitializing, v1alpha1.PhasePending:
	default:
		return false
	}
	c := meta.FindStatusCondition(job.Status.Conditions, ConditionModelsReady)
	return c == nil || c.Reason != ReasonModelsTimedOut
}

// WaitsForModelEvent reports whether job, as an event carried it, waits for its target
// models as of its current spec (ModelsReady=False, ModelsNotReady, for this generation). Only
// a model object's event (which lists the waiting jobs) or the model deadline (the sweep) can
// move such a job, so the job's own event — the write that made it wait, or one that changed
// no spec — is nothing to do. An edited spec (a new generation) is read again.
func WaitsForModelEvent(job *v1alpha1.NotebookValidationJob) bool {
	if !AwaitsModels(job) {
		return false
	}
	c := meta.FindStatusCondition(job.Status.Conditions, ConditionModelsReady)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == ReasonModelsNotReady && c.ObservedGeneration == job.Generation
}

// modelDeadline is when a job that awaits its models stops waiting: modelValidation.timeout
// after it started waiting (the ModelsReady condition's transition to False), or after its
// start when it never waited (its job event was lost).
func modelDeadline(job *v1alpha1.NotebookValidationJob) (time.Time, bool) {
	if !AwaitsModels(job) {
		return time.Time{}, false
	}
	start := job.Status.StartTime
	if c := meta.FindStatusCondition(job.Status.Conditions, ConditionModelsReady); c != nil && c.Status == metav1.ConditionFalse {
		start = &c.LastTransitionTime
	}
	if start == nil || start.IsZero() {
		return time.Time{}, false
	}
	return start.Add(modelspec.Timeout(job)), true
}

// startAfterModels is the JobSeen row of Initializing for a job that awaits its models: it
// waits while obs.Models lists targets not ready, and starts otherwise with the result
// recorded. Without a reading (a caller that does not read models, such as the sweep) nothing
// changes: the model's own event, or the model deadline, moves the job.
func (t *transition) startAfterModels() Decision {
	check := t.obs.Models
	if check == nil {
		return t.unchanged()
	}
	result := check.Result
	t.st.ModelValidationResult = &result
	if len(check.Waiting) > 0 {
		t.setCondition(ConditionModelsReady, metav1.ConditionFalse, ReasonModelsNotReady, t.obs.Message)
		d := t.move(t.job.Status.Phase, ReasonModelsNotReady, t.obs.Message)
		if apiequality.Semantic.DeepEqual(d.Status, t.job.Status) {
			// Nothing new to say (another event about the same unready model).
			return t.unchanged()
		}
		return d
	}
	t.setCondition(ConditionModelsReady, metav1.ConditionTrue, ReasonModelsReady, orDefault(result.Message, "model validation checked"))
	return t.start()
}

// stopWaitingForModels is the DeadlinePassed row of Initializing once the model deadline
// passed: the job proceeds without its models, as the existing operator does, and the
// result says why.
func (t *transition) stopWaitingForModels() Decision {
	waited := ""
	if c := meta.FindStatusCondition(t.st.Conditions, ConditionModelsReady); c != nil && c.Message != "" {
		waited = ": " + c.Message
	}
	message := fmt.Sprintf("target models not ready within modelValidation.timeout %s; proceeding without them%s",
		modelspec.Timeout(t.job), waited)
	result := v1alpha1.ModelValidationResult{Phase: modelspec.Phase(t.job), Platform: modelspec.Platform(t.job)}
	if r := t.st.ModelValidationResult; r != nil {
		result = *r.DeepCopy()
	}
	result.Success = false
	result.Message = message
	t.st.ModelValidationResult = &result
	t.setCondition(ConditionModelsReady, metav1.ConditionFalse, ReasonModelsTimedOut, message)
	return t.start()
}

func orDefault(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
