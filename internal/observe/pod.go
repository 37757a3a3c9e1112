// Package observe turns what a function reads from the API (a validation Pod, a build child)
// into a state-machine observation. It is pure: the functions do the reading.
package observe

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// podKinds maps a pod's classified state to the observation kind the machine decides on.
var podKinds = map[validationpod.State]statemachine.Kind{
	validationpod.StatePending:     statemachine.PodPending,
	validationpod.StateRunning:     statemachine.PodRunning,
	validationpod.StateSucceeded:   statemachine.PodSucceeded,
	validationpod.StateFailed:      statemachine.PodFailed,
	validationpod.StateInfraFailed: statemachine.PodInfraFailed,
	validationpod.StateTimedOut:    statemachine.PodTimedOut,
}

// Pod observes the validation pod podName; pod is nil when it does not exist, which counts as
// an infrastructure failure of that pod (it was deleted before it finished).
func Pod(podName string, pod *corev1.Pod) statemachine.Observation {
	outcome := validationpod.Classify(pod)
	results, comparison := validationpod.Results(outcome.Summary)
	return statemachine.Observation{
		Kind:       podKinds[outcome.State],
		PodName:    podName,
		Reason:     outcome.Reason,
		Message:    outcome.Message,
		Results:    results,
		Comparison: comparison,
		Artifact:   outcome.Artifact,
	}
}
