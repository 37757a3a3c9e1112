package bench

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// The states a played build controller writes.
const (
	buildRunning   = "running"
	buildSucceeded = "succeeded"
	buildFailed    = "failed"
)

// imageDigest is the digest every played build reports.
const imageDigest = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

// tektonStatus is a PipelineRun's status as Tekton's controller writes it in state, the built
// image in its results.
func tektonStatus(state, image string, now metav1.Time) map[string]any {
	cond := map[string]any{"type": "Succeeded", "lastTransitionTime": now.UTC().Format("2006-01-02T15:04:05Z")}
	st := map[string]any{"startTime": now.UTC().Format("2006-01-02T15:04:05Z"), "conditions": []any{cond}}
	switch state {
	case buildRunning:
		cond["status"], cond["reason"], cond["message"] = "Unknown", "Running", "Tasks Completed: 0 (Failed: 0, Cancelled 0), Skipped: 0"
	case buildSucceeded:
		cond["status"], cond["reason"], cond["message"] = "True", "Succeeded", "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0"
		st["completionTime"] = cond["lastTransitionTime"]
		st["results"] = []any{
			map[string]any{"name": "IMAGE_URL", "value": image},
			map[string]any{"name": "IMAGE_DIGEST", "value": imageDigest},
		}
	default:
		cond["status"], cond["reason"], cond["message"] = "False", "Failed", "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0"
		st["completionTime"] = cond["lastTransitionTime"]
	}
	return st
}

// openshiftStatus is a Build's status as OpenShift's build controller writes it in state.
func openshiftStatus(state, image string, now metav1.Time) map[string]any {
	st := map[string]any{"startTimestamp": now.UTC().Format("2006-01-02T15:04:05Z")}
	switch state {
	case buildRunning:
		st["phase"] = "Running"
	case buildSucceeded:
		st["phase"], st["completionTimestamp"] = "Complete", st["startTimestamp"]
		st["outputDockerImageReference"] = image
		st["output"] = map[string]any{"to": map[string]any{"imageDigest": imageDigest}}
	default:
		st["phase"], st["reason"], st["message"] = "Failed", "DockerBuildFailed", "Docker build strategy has failed."
	}
	return st
}

// buildFinished reports whether a played build's status (either kind) is an end state.
func buildFinished(st map[string]any) bool {
	if _, ok := st["completionTime"]; ok {
		return true // Tekton, succeeded or failed
	}
	switch st["phase"] {
	case "Complete", "Failed", "Cancelled", "Error":
		return true // OpenShift
	}
	return false
}

// runningPodStatus is what the kubelet writes once the prepare container finished and the
// notebook container started.
func runningPodStatus(now metav1.Time) corev1.PodStatus {
	return corev1.PodStatus{
		Phase: corev1.PodRunning, StartTime: &now,
		InitContainerStatuses: []corev1.ContainerStatus{preparedStatus(now)},
		ContainerStatuses: []corev1.ContainerStatus{{Name: validationpod.NotebookContainer, Ready: true, Started: new(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
	}
}

// finishedPodStatus is what the kubelet writes once the runner exited, leaving its summary
// (the real encoding nbv-runner writes) as the termination message.
func finishedPodStatus(started, now metav1.Time, fails bool) (corev1.PodStatus, error) {
	s, phase, code, reason := passedSummary(), corev1.PodSucceeded, int32(0), "Completed"
	if fails {
		s, phase, code, reason = failedSummary(), corev1.PodFailed, 1, "Error"
	}
	msg, err := summary.Encode(s, 0)
	if err != nil {
		return corev1.PodStatus{}, err
	}
	return corev1.PodStatus{
		Phase: phase, StartTime: &started,
		InitContainerStatuses: []corev1.ContainerStatus{preparedStatus(started)},
		ContainerStatuses: []corev1.ContainerStatus{{Name: validationpod.NotebookContainer,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, Reason: reason, Message: string(msg), StartedAt: started, FinishedAt: now}}}},
	}, nil
}

func preparedStatus(at metav1.Time) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: validationpod.PrepareContainer, Ready: true,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: at, FinishedAt: at}}}
}

func passedSummary() summary.Summary {
	return summary.Summary{Result: summary.ResultPassed, Reason: summary.ReasonPassed, Message: "all 2 code cells passed",
		DurationMs: 1500, Cells: summary.Counts{Total: 2, Passed: 2},
		Results: []summary.Cell{{Index: 0, Status: summary.CellSuccess, DurationMs: 700}, {Index: 1, Status: summary.CellSuccess, DurationMs: 800}}}
}

func failedSummary() summary.Summary {
	fail := summary.Cell{Index: 1, Status: summary.CellFailure, DurationMs: 20, Error: "ZeroDivisionError: division by zero"}
	return summary.Summary{Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Message: "cell 1 failed: ZeroDivisionError: division by zero",
		DurationMs: 900, Cells: summary.Counts{Total: 2, Passed: 1, Failed: 1},
		FirstFailure: &fail, Results: []summary.Cell{{Index: 0, Status: summary.CellSuccess, DurationMs: 880}, fail}}
}
