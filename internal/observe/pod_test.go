package observe

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

func terminatedPod(exitCode int32, s summary.Summary) *corev1.Pod {
	msg, err := summary.Encode(s, 0)
	if err != nil {
		panic(err)
	}
	phase := corev1.PodSucceeded
	if exitCode != 0 {
		phase = corev1.PodFailed
	}
	return &corev1.Pod{Status: corev1.PodStatus{
		Phase: phase,
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "prepare", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "notebook", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, Message: string(msg)}}}},
	}}
}

func TestPodObservations(t *testing.T) {
	passed := summary.Summary{Result: summary.ResultPassed, Reason: summary.ReasonPassed, Message: "2 cells passed",
		Cells:   summary.Counts{Total: 2, Passed: 2},
		Results: []summary.Cell{{Index: 0, Status: summary.CellSuccess, DurationMs: 5}, {Index: 1, Status: summary.CellSuccess}}}
	failed := summary.Summary{Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Message: "cell 1 failed",
		Cells:        summary.Counts{Total: 2, Passed: 1, Failed: 1},
		FirstFailure: &summary.Cell{Index: 1, Status: summary.CellFailure, Error: "ZeroDivisionError: division by zero"},
		Results:      []summary.Cell{{Index: 0, Status: summary.CellSuccess}, {Index: 1, Status: summary.CellFailure, Error: "ZeroDivisionError: division by zero"}}}
	cases := []struct {
		name        string
		pod         *corev1.Pod
		kind        statemachine.Kind
		wantResults int
	}{
		{"missing pod", nil, statemachine.PodInfraFailed, 0},
		{"pending", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, statemachine.PodPending, 0},
		{"passed", terminatedPod(0, passed), statemachine.PodSucceeded, 2},
		{"notebook failed", terminatedPod(1, failed), statemachine.PodFailed, 2},
		{"deadline", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded"}}, statemachine.PodTimedOut, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obs := Pod("job-validation", tc.pod)
			if obs.Kind != tc.kind {
				t.Errorf("kind = %s, want %s (reason %s: %s)", obs.Kind, tc.kind, obs.Reason, obs.Message)
			}
			if obs.PodName != "job-validation" {
				t.Errorf("pod name = %q, want job-validation", obs.PodName)
			}
			if len(obs.Results) != tc.wantResults {
				t.Errorf("results = %d, want %d", len(obs.Results), tc.wantResults)
			}
			if obs.Message == "" {
				t.Error("observation has no message for the user")
			}
		})
	}
}

// Every state Classify can return must map to a kind, or the machine would get an empty kind.
func TestEveryPodStateHasAKind(t *testing.T) {
	for state, kind := range podKinds {
		if kind == "" {
			t.Errorf("state %s maps to no kind", state)
		}
	}
	if len(podKinds) != 6 {
		t.Errorf("podKinds has %d states, want 6 (Pending, Running, Succeeded, Failed, InfraFailed, TimedOut)", len(podKinds))
	}
}
