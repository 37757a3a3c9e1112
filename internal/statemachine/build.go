package statemachine

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// buildKinds maps each build observation to whether it comes from a child build (true) or
// from external CI (false); each source is only believed for its own strategy.
var buildKinds = map[Kind]bool{
	BuildPending: true, BuildRunning: true, BuildSucceeded: true, BuildFailed: true,
	BuildCancelled: true, BuildTimedOut: true, BuildStartFailed: true,
	ExternalBuildSucceeded: false, ExternalBuildFailed: false,
}

func (t *transition) decideBuilding() Decision {
	kind := t.obs.Kind
	if kind == DeadlinePassed {
		message := "the build did not finish within " + buildTimeout(t.job).String()
		if BuildStrategy(t.job) == v1alpha1.BuildStrategyExternal {
			// Only the sweep enforces this deadline, and the user must look at their CI, not here.
			message = "external CI never reported the build's result within " + buildTimeout(t.job).String()
		}
		t.setBuildOutcome(v1alpha1.BuildPhaseFailed, ReasonBuildTimeout, message)
		t.setCondition(v1alpha1.ConditionBuildReady, metav1.ConditionFalse, ReasonBuildTimeout, message)
		return t.timeOut(ReasonBuildTimeout, message)
	}
	fromChild, isBuild := buildKinds[kind]
	if !isBuild || fromChild == (BuildStrategy(t.job) == v1alpha1.BuildStrategyExternal) {
		return t.unchanged()
	}
	name := t.buildLabel()
	switch kind {
	case BuildPending, BuildRunning:
		return t.buildProgress()
	case BuildSucceeded, ExternalBuildSucceeded:
		return t.buildSucceeded()
	case BuildFailed:
		return t.failBuild(ReasonBuildFailed, name+" failed"+detail(t.obs))
	case ExternalBuildFailed:
		return t.failBuild(ReasonBuildFailed, "external CI reported that the build failed"+detail(t.obs))
	case BuildCancelled:
		return t.failBuild(ReasonBuildCancelled, name+" was cancelled"+detail(t.obs))
	case BuildTimedOut:
		return t.failBuild(ReasonBuildTimeout, name+" timed out after "+buildTimeout(t.job).String()+detail(t.obs))
	case BuildStartFailed:
		return t.failBuildStart(name)
	}
	return t.unchanged()
}

// buildProgress records what a pending or running build says that the job does not show:
// a build held before it runs says why (quota, an invalid output reference), and that is
// written, then cleared once the build runs. Anything else changes nothing: the Building write
// made when the build was created already says what a user acts on (which build, since when),
// and a write for "running" would race the success Tekton writes right after it, the two steps
// deciding from the same job version and one of them refused with a 409.
func (t *transition) buildProgress() Decision {
	phase, reason := v1alpha1.BuildPhasePending, ReasonBuildPending
	if t.obs.Kind == BuildRunning {
		if !t.buildHeld() {
			return t.unchanged()
		}
		phase, reason = v1alpha1.BuildPhaseRunning, ReasonBuildRunning
	} else if t.obs.Message == "" {
		return t.unchanged()
	}
	bs := t.buildStatus()
	name := bs.BuildName
	if t.obs.BuildName != "" {
		name = t.obs.BuildName
	}
	message := t.obs.Message
	if message == "" {
		message = fmt.Sprintf("build %s is %s", name, strings.ToLower(phase))
	}
	if bs.Phase == phase && bs.Message == message && bs.BuildName == name {
		return t.unchanged()
	}
	bs.Phase, bs.Message, bs.BuildName = phase, message, name
	t.setCondition(v1alpha1.ConditionBuildReady, metav1.ConditionUnknown, reason, message)
	return t.move(v1alpha1.PhaseBuilding, reason, message)
}

// buildHeld reports whether the job shows its build held before running (BuildReady's reason
// is BuildPending, written from the build's own message).
func (t *transition) buildHeld() bool {
	c := meta.FindStatusCondition(t.st.Conditions, v1alpha1.ConditionBuildReady)
	return c != nil && c.Reason == ReasonBuildPending
}

func (t *transition) buildSucceeded() Decision {
	if t.obs.Image == "" {
		return t.failBuild(ReasonImageMissing, t.buildLabel()+" succeeded but reported no image")
	}
	bs := t.buildStatus()
	if t.obs.BuildStarted != nil {
		bs.StartTime = t.obs.BuildStarted.DeepCopy()
	}
	bs.ImageReference = t.obs.Image
	message := "built image " + t.obs.Image
	t.setBuildOutcome(v1alpha1.BuildPhaseComplete, t.obs.Reason, message)
	if bs.Duration != "" {
		message += " in " + bs.Duration
	}
	t.setCondition(v1alpha1.ConditionBuildReady, metav1.ConditionTrue, ReasonBuildSucceeded, message)
	return t.move(v1alpha1.PhaseBuildComplete, ReasonBuildSucceeded, message)
}

// failBuild fails the job because of its build, recording why in buildStatus and BuildReady.
func (t *transition) failBuild(reason, message string) Decision {
	buildReason := t.obs.Reason
	if buildReason == "" {
		buildReason = reason
	}
	t.setBuildOutcome(v1alpha1.BuildPhaseFailed, buildReason, message)
	t.setCondition(v1alpha1.ConditionBuildReady, metav1.ConditionFalse, reason, message)
	return t.fail(reason, message)
}

// setBuildOutcome records a finished build: phase, reason, message, completion time, duration.
func (t *transition) setBuildOutcome(phase, reason, message string) {
	bs := t.buildStatus()
	bs.Phase, bs.Reason, bs.Message = phase, reason, message
	if t.obs.BuildName != "" {
		bs.BuildName = t.obs.BuildName
	}
	bs.CompletionTime = t.now()
	if t.obs.BuildCompleted != nil {
		bs.CompletionTime = t.obs.BuildCompleted.DeepCopy()
	}
	if bs.StartTime != nil {
		bs.Duration = max(bs.CompletionTime.Sub(bs.StartTime.Time), 0).Round(time.Second).String()
	}
}

// buildStatus returns the status's build record, creating it when a job reached a build
// observation without one.
func (t *transition) buildStatus() *v1alpha1.BuildStatus {
	if t.st.BuildStatus == nil {
		t.st.BuildStatus = &v1alpha1.BuildStatus{Strategy: BuildStrategy(t.job)}
	}
	return t.st.BuildStatus
}

// BuildStrategy is the strategy of job's build as the machine sees it: while Building, the one
// recorded when the build started (a spec edit cannot redirect it); else the spec's, else the
// CRD default (s2i). Functions that read or delete the build child use it too.
func BuildStrategy(job *v1alpha1.NotebookValidationJob) string {
	if bs := job.Status.BuildStatus; bs != nil && bs.Strategy != "" && job.Status.Phase == v1alpha1.PhaseBuilding {
		return bs.Strategy
	}
	if bc := job.Spec.PodConfig.BuildConfig; bc != nil && bc.Strategy != "" {
		return bc.Strategy
	}
	return v1alpha1.BuildStrategyS2I
}

// buildLabel names the build in messages.
func (t *transition) buildLabel() string {
	if bs := t.st.BuildStatus; bs != nil && bs.BuildName != "" {
		return "build " + bs.BuildName
	}
	if t.obs.BuildName != "" {
		return "build " + t.obs.BuildName
	}
	return "the build"
}

// validationImage is the built image when there is one, else the spec's image.
func (t *transition) validationImage() string {
	if bs := t.st.BuildStatus; bs != nil && bs.ImageReference != "" {
		return bs.ImageReference
	}
	return t.job.Spec.PodConfig.ContainerImage
}
