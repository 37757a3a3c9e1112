package transition

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/metrics"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// refusals are the decision reasons that mean the job was refused rather than failed by its
// own notebook or build: a child the API server rejected, a name taken, a reference the
// author may not use, a build strategy nbv does not run.
var refusals = map[string]bool{
	statemachine.ReasonPodRejected:         true,
	statemachine.ReasonBuildRejected:       true,
	statemachine.ReasonChildNameTaken:      true,
	statemachine.ReasonNotPermitted:        true,
	statemachine.ReasonUnsupportedStrategy: true,
}

// record records the metrics of one written transition (package metrics): the transition,
// the time spent in the phase left, the delay to the validation pod, refusals, the build's and
// the validation's durations, each cell's duration and the wait for target models.
func (e *Executor) record(ctx context.Context, out Outcome) {
	st := out.Decision.Status
	from, to := out.PreviousPhase, st.Phase
	now := e.now()
	metrics.RecordTransition(ctx, from, to, boundedReason(out.Decision.Reason))
	if refusals[out.Decision.Reason] {
		metrics.RecordRefusal(ctx, out.Decision.Reason)
	}
	if from == to {
		return
	}
	if !out.PhaseSince.IsZero() {
		metrics.RecordPhaseDuration(ctx, from, now.Sub(out.PhaseSince))
	}
	if out.Decision.Effect == statemachine.EffectCreateValidationPod {
		if bs := st.BuildStatus; bs != nil && bs.CompletionTime != nil {
			metrics.RecordPodDelay(ctx, metrics.SinceBuildCompleted, now.Sub(bs.CompletionTime.Time))
		} else if created := out.Job.CreationTimestamp; !created.IsZero() {
			metrics.RecordPodDelay(ctx, metrics.SinceJobCreated, now.Sub(created.Time))
		}
	}
	switch from {
	case v1alpha1.PhaseBuilding:
		if bs := st.BuildStatus; bs != nil && bs.StartTime != nil && bs.CompletionTime != nil {
			metrics.RecordBuildDuration(ctx, bs.Strategy, to, bs.CompletionTime.Sub(bs.StartTime.Time))
		}
	case v1alpha1.PhaseValidationRunning:
		if st.CompletionTime != nil && st.StartTime != nil {
			metrics.RecordValidationDuration(ctx, to, boundedReason(out.ObservedReason), st.CompletionTime.Sub(st.StartTime.Time))
		}
		if to == v1alpha1.PhaseSucceeded || to == v1alpha1.PhaseFailed {
			for _, r := range st.Results {
				if r.ExecutionTime != nil {
					metrics.RecordCell(ctx, r.Status, r.ExecutionTime.Duration)
				}
			}
		}
	case v1alpha1.PhaseNone, v1alpha1.PhaseInitializing, v1alpha1.PhasePending:
		if c := meta.FindStatusCondition(st.Conditions, statemachine.ConditionModelsReady); c != nil {
			switch {
			case c.Status == metav1.ConditionTrue:
				metrics.RecordModelCheck(ctx, "ready")
			case c.Reason == statemachine.ReasonModelsTimedOut:
				metrics.RecordModelCheck(ctx, "timed_out")
			}
		}
	}
}

// maxReasonLen bounds a reason used as a metric attribute.
const maxReasonLen = 48

// boundedReason keeps a reason that looks like one of the constants reasons are (letters
// only, CamelCase, short), says "None" for none and "Other" for anything else, so that no text
// from outside (a build system's condition) can grow the number of series.
func boundedReason(r string) string {
	if r == "" {
		return "None"
	}
	if len(r) > maxReasonLen {
		return "Other"
	}
	for _, c := range r {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return "Other"
		}
	}
	return r
}
