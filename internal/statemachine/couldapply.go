package statemachine

import (
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// applicable lists, per phase, the observation kinds for which Decide has a row that may
// change a job in that phase. A phase missing here (Succeeded, Failed, unknown ones) has none.
var applicable = map[string][]Kind{
	v1alpha1.PhaseNone:         {JobSeen},
	v1alpha1.PhaseInitializing: {JobSeen, BuildStartFailed, PodStartFailed, DeadlinePassed},
	v1alpha1.PhasePending:      {JobSeen, BuildStartFailed, PodStartFailed, DeadlinePassed},
	v1alpha1.PhaseBuilding: {
		BuildPending, BuildRunning, BuildSucceeded, BuildFailed, BuildCancelled, BuildTimedOut, BuildStartFailed,
		ExternalBuildSucceeded, ExternalBuildFailed, DeadlinePassed,
	},
	v1alpha1.PhaseBuildComplete:     {JobSeen, PodStartFailed, DeadlinePassed},
	v1alpha1.PhaseValidationRunning: {PodSucceeded, PodFailed, PodInfraFailed, PodTimedOut, PodStartFailed, DeadlinePassed},
	v1alpha1.PhaseRunning: {
		JobSeen, DeadlinePassed,
		BuildPending, BuildRunning, BuildSucceeded, BuildFailed, BuildCancelled, BuildTimedOut, BuildStartFailed,
		ExternalBuildSucceeded, ExternalBuildFailed,
		PodSucceeded, PodFailed, PodInfraFailed, PodTimedOut, PodStartFailed,
	},
}

// CouldApply reports whether an observation of kind could change a job in phase. False means
// Decide changes nothing for any job in that phase, whatever else the job and the observation
// hold: a function that learns the phase from an event's own object (the job as the API
// server had it at a known resourceVersion) may then answer "nothing to do" with no API call.
// That is safe because phases only move forward and every later write brings its own event
// (the sweep covers lost ones), and harmless for a forged event, which can only make a
// function skip work that the genuine event still brings. True promises nothing: the function
// reads fresh and decides.
func CouldApply(phase string, kind Kind) bool {
	for _, k := range applicable[phase] {
		if k == kind {
			return true
		}
	}
	return false
}

// CouldApplyInAnyPhase reports whether an observation of kind could change a job in some
// phase. False means it is nothing to do without knowing the job at all: a validation pod's
// progress (PodPending, PodRunning).
func CouldApplyInAnyPhase(kind Kind) bool {
	for _, phase := range AllPhases {
		if CouldApply(phase, kind) {
			return true
		}
	}
	return false
}

// isPodProgress reports whether kind says a validation pod is on its way: it changes no job.
func isPodProgress(kind Kind) bool {
	return kind == PodPending || kind == PodRunning
}

// Accepted reports whether job is as the accepting write left it (Initializing, reason
// Initialized). A function that writes that takes the job's start over at once, deciding from
// the API server's answer to the write (transition.Executor): the event the write brings is
// then nothing to do, and a function that learns from that event's own object that the job is
// only accepted may answer so with no API call. Should the start not have followed (its writer
// failed before answering), the event that woke the writer is delivered again.
func Accepted(job *v1alpha1.NotebookValidationJob) bool {
	if job.Status.Phase != v1alpha1.PhaseInitializing {
		return false
	}
	c := meta.FindStatusCondition(job.Status.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Reason == ReasonInitialized
}
