package statemachine

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// Timeouts applied when the spec leaves them empty (the CRD's defaults) or unparsable.
const (
	DefaultBuildTimeout = 15 * time.Minute
	DefaultTimeout      = 30 * time.Minute
	// DeadlineGrace lets the system that runs the work (the pod's activeDeadlineSeconds, the
	// PipelineRun's or Build's own timeout) report first; the sweep only catches what it missed.
	DeadlineGrace = 2 * time.Minute
)

// Deadline is when the job must be over, and false when no deadline applies (nil job,
// terminal or unknown phases, "", or no recorded start time).
//
//   - Building: the build's start (buildStatus.startTime, else status.startTime) + the build
//     timeout; plus DeadlineGrace for s2i/tekton, whose build system enforces the timeout
//     itself. External builds get no grace: nothing else enforces their deadline.
//   - ValidationRunning: the current attempt's start + spec.timeout + DeadlineGrace. The
//     attempt started at lastRetryTime after a retry; otherwise when the job entered
//     ValidationRunning, which is the lastTransitionTime of the ValidationComplete condition
//     (set Unknown on entry and unchanged until the run ends); else status.startTime (a job
//     migrated from legacy Running, whose run began before the migration).
//   - BuildComplete: the later of status.startTime and the build's completion, plus
//     spec.timeout and DeadlineGrace, so a long build does not eat the validation's time.
//   - Initializing, legacy Pending and Running: status.startTime + spec.timeout + DeadlineGrace;
//     or earlier, while an Initializing (or Pending) job awaits its target models
//     (AwaitsModels), when it stops waiting for them (modelValidation.timeout after it began
//     to wait): DeadlinePassed then starts it without them.
func Deadline(job *v1alpha1.NotebookValidationJob) (time.Time, bool) {
	if job == nil {
		return time.Time{}, false
	}
	st := job.Status
	start := phaseStart(job)
	limit := validationTimeout(job) + DeadlineGrace
	switch st.Phase {
	case v1alpha1.PhaseBuilding:
		limit = buildTimeout(job)
		if st.BuildStatus == nil || st.BuildStatus.Strategy != v1alpha1.BuildStrategyExternal {
			limit += DeadlineGrace
		}
	case v1alpha1.PhaseValidationRunning:
		if st.LastRetryTime != nil {
			start = st.LastRetryTime
		}
	}
	if start == nil || start.IsZero() {
		return modelDeadline(job)
	}
	deadline := start.Add(limit)
	if models, ok := modelDeadline(job); ok && models.Before(deadline) {
		return models, true
	}
	return deadline, true
}

// validationTimeout is spec.timeout, which becomes the pod's activeDeadlineSeconds.
func validationTimeout(job *v1alpha1.NotebookValidationJob) time.Duration {
	return parseTimeout(job.Spec.Timeout, DefaultTimeout)
}

// buildTimeout is spec.podConfig.buildConfig.timeout.
func buildTimeout(job *v1alpha1.NotebookValidationJob) time.Duration {
	if bc := job.Spec.PodConfig.BuildConfig; bc != nil {
		return parseTimeout(bc.Timeout, DefaultBuildTimeout)
	}
	return DefaultBuildTimeout
}

// parseTimeout falls back to the default for a value the CRD pattern should have refused,
// so a job always has a deadline.
func parseTimeout(value string, fallback time.Duration) time.Duration {
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		return fallback
	}
	return d
}

// PhaseStart is when the job entered its current phase, as far as its status records it: the
// job's creation for the empty phase; for the others the start Deadline counts from, except
// that a retried ValidationRunning counts from the first attempt. False for terminal and
// unknown phases, or when no time is recorded.
func PhaseStart(job *v1alpha1.NotebookValidationJob) (time.Time, bool) {
	if job == nil {
		return time.Time{}, false
	}
	if job.Status.Phase == v1alpha1.PhaseNone {
		return job.CreationTimestamp.Time, !job.CreationTimestamp.IsZero()
	}
	start := phaseStart(job)
	if start == nil || start.IsZero() {
		return time.Time{}, false
	}
	return start.Time, true
}

// phaseStart is when the job entered its current non-empty phase (see Deadline), nil when the
// phase is terminal or unknown or its status records no time.
func phaseStart(job *v1alpha1.NotebookValidationJob) *metav1.Time {
	st := job.Status
	switch st.Phase {
	case v1alpha1.PhaseBuilding:
		if st.BuildStatus != nil && st.BuildStatus.StartTime != nil {
			return st.BuildStatus.StartTime
		}
		return st.StartTime
	case v1alpha1.PhaseValidationRunning:
		if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionValidationComplete); c != nil && c.Status == metav1.ConditionUnknown {
			return &c.LastTransitionTime
		}
		return st.StartTime
	case v1alpha1.PhaseBuildComplete:
		start := st.StartTime
		if bs := st.BuildStatus; bs != nil && bs.CompletionTime != nil && (start == nil || bs.CompletionTime.After(start.Time)) {
			start = bs.CompletionTime
		}
		return start
	case v1alpha1.PhaseInitializing, v1alpha1.PhasePending, v1alpha1.PhaseRunning:
		return st.StartTime
	}
	return nil
}
