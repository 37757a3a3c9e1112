package validationpod

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// encode is what nbv-runner writes to the termination log.
func encode(t *testing.T, s summary.Summary) string {
	t.Helper()
	b, err := summary.Encode(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// basePod is a built validation pod as the API server returns it, before any status.
func basePod(t *testing.T) *corev1.Pod {
	t.Helper()
	job := minimalJob()
	job.Spec.PodConfig.Resources = &v1alpha1.ResourceRequirements{Limits: map[string]string{"memory": "2Gi"}}
	pod, err := Build(job, "iris-validation", userImage, Options{RunnerImage: runnerImage})
	if err != nil {
		t.Fatal(err)
	}
	pod.Spec.NodeName = "worker-3"
	return pod
}

func prepareDone() corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: PrepareContainer, Image: runnerImage, State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}
}

func terminated(name string, code int32, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Image: userImage, State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg}}}
}

func waiting(name, image, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Image: image, State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

func TestClassify(t *testing.T) {
	passed := summary.Summary{Result: summary.ResultPassed, Reason: summary.ReasonPassed, Message: "all cells passed",
		Cells: summary.Counts{Total: 4, Passed: 4}, Results: []summary.Cell{{Index: 1, Status: summary.CellSuccess, DurationMs: 12}}}
	cellFailed := summary.Summary{Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Message: "cell 3 raised",
		Cells:        summary.Counts{Total: 5, Passed: 2, Failed: 1, Skipped: 2},
		FirstFailure: &summary.Cell{Index: 3, Status: summary.CellFailure, Error: "ZeroDivisionError: division by zero"}}
	goldenMismatch := summary.Summary{Result: summary.ResultFailed, Reason: summary.ReasonGoldenMismatch,
		Cells:      summary.Counts{Total: 3, Passed: 3},
		Comparison: &summary.Comparison{Strategy: "normalized", Result: "failed", Total: 3, Matched: 2, Mismatched: 1}}
	runnerErr := summary.Summary{Result: summary.ResultError, Reason: summary.ReasonRunnerError, Message: "kernel died unexpectedly"}
	authFailed := summary.Summary{Result: summary.ResultError, Reason: summary.ReasonCloneAuthFailed, Message: "clone https://git.example.com/ml/private.git: authentication required"}
	refMissing := summary.Summary{Result: summary.ResultError, Reason: summary.ReasonRefNotFound, Message: `clone https://github.com/example/notebooks.git: reference "mian" not found`}
	nbMissing := summary.Summary{Result: summary.ResultError, Reason: summary.ReasonNotebookNotFound, Message: "classification/iris.ipynb not found at main"}

	cases := []struct {
		name         string
		mutate       func(*corev1.Pod)
		state        State
		reason       string
		msgHas       []string
		wantSummary  bool
		wantTerminal bool
	}{
		{
			name:   "just created",
			mutate: func(p *corev1.Pod) { p.Status = corev1.PodStatus{Phase: corev1.PodPending} },
			state:  StatePending, reason: ReasonStarting,
		},
		{
			name: "unschedulable",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
					Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
					Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}}
			},
			state: StatePending, reason: ReasonScheduling, msgHas: []string{"Insufficient nvidia.com/gpu", "nodeSelector"},
		},
		{
			name: "cloning",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{
					Name: PrepareContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
					ContainerStatuses: []corev1.ContainerStatus{waiting(NotebookContainer, userImage, "PodInitializing", "")}}
			},
			state: StatePending, reason: ReasonPreparing,
		},
		{
			name: "user image pull back-off",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{waiting(NotebookContainer, "quay.io/jupyter/minimal-notebok:2025", "ImagePullBackOff",
						`Back-off pulling image "quay.io/jupyter/minimal-notebok:2025"`)}}
			},
			state: StateInfraFailed, reason: ReasonImagePull, wantTerminal: true,
			msgHas: []string{"minimal-notebok:2025", "ImagePullBackOff", "containerImage", "imagePullSecret"},
		},
		{
			name: "runner image pull error",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					waiting(PrepareContainer, runnerImage, "ErrImagePull", "rpc error: code = NotFound desc = failed to pull and unpack image")}}
			},
			state: StateInfraFailed, reason: ReasonImagePull, wantTerminal: true, msgHas: []string{"runner image", "administrator"},
		},
		{
			name: "invalid image name",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{waiting(NotebookContainer, "Quay.io/UPPER", "InvalidImageName", `Failed to apply default image tag "Quay.io/UPPER"`)}}
			},
			state: StateInfraFailed, reason: ReasonImagePull, wantTerminal: true,
		},
		{
			name: "missing secret for credentials",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{waiting(NotebookContainer, userImage, "CreateContainerConfigError", `secret "hf-token" not found`)}}
			},
			state: StatePending, reason: ReasonContainerConfig, msgHas: []string{`secret "hf-token" not found`, "credentials"},
		},
		{
			name: "running",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodRunning, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{{Name: NotebookContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
			},
			state: StateRunning, reason: ReasonRunning,
		},
		{
			name: "passed",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodSucceeded, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 0, "Completed", encode(t, passed))}}
			},
			state: StateSucceeded, reason: summary.ReasonPassed, wantSummary: true, wantTerminal: true, msgHas: []string{"4 of 4"},
		},
		{
			name: "cell failed",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 1, "Error", encode(t, cellFailed))}}
			},
			state: StateFailed, reason: summary.ReasonCellFailed, wantSummary: true, wantTerminal: true,
			msgHas: []string{"cell 3", "ZeroDivisionError: division by zero", "2 of 5"},
		},
		{
			name: "golden mismatch",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 1, "Error", encode(t, goldenMismatch))}}
			},
			state: StateFailed, reason: summary.ReasonGoldenMismatch, wantSummary: true, wantTerminal: true, msgHas: []string{"golden", "1 of 3"},
		},
		{
			name: "runner error is retryable",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 2, "Error", encode(t, runnerErr))}}
			},
			state: StateInfraFailed, reason: summary.ReasonRunnerError, wantSummary: true, wantTerminal: true, msgHas: []string{"kernel died"},
		},
		{
			name: "passing summary but non-zero exit",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 3, "Error", encode(t, passed))}}
			},
			state: StateFailed, reason: ReasonInconsistent, wantTerminal: true, msgHas: []string{"exited with code 3"},
		},
		{
			name: "clone: bad credentials",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{
					terminated(PrepareContainer, 1, "Error", encode(t, authFailed))},
					ContainerStatuses: []corev1.ContainerStatus{waiting(NotebookContainer, userImage, "PodInitializing", "")}}
			},
			state: StateFailed, reason: summary.ReasonCloneAuthFailed, wantSummary: true, wantTerminal: true,
			msgHas: []string{"authentication required", "credentialsSecret", "username+password"},
		},
		{
			name: "clone: ref missing (phase still Pending)",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					terminated(PrepareContainer, 1, "Error", encode(t, refMissing))}}
			},
			state: StateFailed, reason: summary.ReasonRefNotFound, wantSummary: true, wantTerminal: true, msgHas: []string{`"mian"`, "fix git.ref"},
		},
		{
			name: "clone: notebook missing",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{
					terminated(PrepareContainer, 1, "Error", encode(t, nbMissing))}}
			},
			state: StateFailed, reason: summary.ReasonNotebookNotFound, wantSummary: true, wantTerminal: true, msgHas: []string{"notebook.path"},
		},
		{
			name: "prepare crashed without summary",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{
					terminated(PrepareContainer, 2, "Error", "panic: runtime error: index out of range")}}
			},
			state: StateInfraFailed, reason: ReasonPrepareFailed, wantTerminal: true, msgHas: []string{"exit code 2", "not JSON", "-c prepare"},
		},
		{
			name: "prepare OOMKilled",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{
					terminated(PrepareContainer, 137, "OOMKilled", "")}}
			},
			state: StateInfraFailed, reason: ReasonOOMKilled, wantTerminal: true, msgHas: []string{"cloning", "1Gi"},
		},
		{
			name: "notebook OOMKilled",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 137, "OOMKilled", "")}}
			},
			state: StateInfraFailed, reason: ReasonOOMKilled, wantTerminal: true, msgHas: []string{"2Gi", "limits.memory"},
		},
		{
			name: "summary missing",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 1, "Error", "")}}
			},
			state: StateInfraFailed, reason: ReasonSummaryMissing, wantTerminal: true, msgHas: []string{"without writing a summary", "kubectl logs -n team-a iris-validation -c notebook"},
		},
		{
			name: "summary malformed",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 2, "Error", `{"v":1,"result":"passed","reason":`)}}
			},
			state: StateInfraFailed, reason: ReasonSummaryMalformed, wantTerminal: true, msgHas: []string{"not JSON"},
		},
		{
			name: "summary of another schema version",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 0, "Completed", `{"v":7,"result":"passed","reason":"Passed"}`)}}
			},
			state: StateFailed, reason: ReasonInconsistent, wantTerminal: true, msgHas: []string{"'/v'"},
		},
		{
			name: "runner not executable in the image",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 128, "StartError", "exec format error")}}
			},
			state: StateInfraFailed, reason: ReasonContainerFailed, wantTerminal: true, msgHas: []string{"exec format error", "architecture"},
		},
		{
			name: "deadline exceeded",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded",
					Message:               "Pod was active on the node longer than the specified deadline",
					InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses:     []corev1.ContainerStatus{terminated(NotebookContainer, 137, "Error", "")}}
			},
			state: StateTimedOut, reason: ReasonTimeout, wantTerminal: true, msgHas: []string{"1800s", "spec.timeout"},
		},
		{
			name: "deadline exceeded while cloning",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded",
					InitContainerStatuses: []corev1.ContainerStatus{terminated(PrepareContainer, 137, "Error", "")}}
			},
			state: StateTimedOut, reason: ReasonTimeout, wantTerminal: true,
		},
		{
			name: "evicted",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted",
					Message: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 90Mi."}
			},
			state: StateInfraFailed, reason: ReasonEvicted, wantTerminal: true, msgHas: []string{"worker-3", "low on resource: memory"},
		},
		{
			name: "drained (eviction API)",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Conditions: []corev1.PodCondition{{
					Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting"}},
					InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
					ContainerStatuses:     []corev1.ContainerStatus{terminated(NotebookContainer, 143, "Error", "")}}
			},
			state: StateInfraFailed, reason: ReasonEvicted, wantTerminal: true,
		},
		{
			name: "node gone (pod GC)",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Conditions: []corev1.PodCondition{{
					Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByPodGC", Message: "PodGC: node no longer exists"}},
					ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 137, "ContainerStatusUnknown", "The container could not be located when the pod was terminated")}}
			},
			state: StateInfraFailed, reason: ReasonNodeLost, wantTerminal: true, msgHas: []string{"worker-3"},
		},
		{
			name: "node unreachable (phase Unknown)",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodUnknown, Reason: "NodeLost", Message: "Node worker-3 which was running pod iris-validation is unresponsive"}
			},
			state: StateInfraFailed, reason: ReasonNodeLost, wantTerminal: true, msgHas: []string{"unresponsive"},
		},
		{
			name: "deleted while running",
			mutate: func(p *corev1.Pod) {
				now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
				p.DeletionTimestamp = &now
				p.Status = corev1.PodStatus{Phase: corev1.PodRunning, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()}}
			},
			state: StateInfraFailed, reason: ReasonPodDeleted, wantTerminal: true,
		},
		{
			name: "failed at admission",
			mutate: func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "OutOfcpu", Message: "Pod Node didn't have enough resource: cpu, requested: 4000, used: 1000, capacity: 4000"}
			},
			state: StateInfraFailed, reason: ReasonPodFailed, wantTerminal: true, msgHas: []string{"OutOfcpu"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod(t)
			tc.mutate(pod)
			got := Classify(pod)
			if got.State != tc.state || got.Reason != tc.reason {
				t.Fatalf("Classify = %s/%s (%q), want %s/%s", got.State, got.Reason, got.Message, tc.state, tc.reason)
			}
			if got.Terminal() != tc.wantTerminal {
				t.Errorf("Terminal() = %v", got.Terminal())
			}
			if (got.Summary != nil) != tc.wantSummary {
				t.Errorf("summary present = %v, want %v", got.Summary != nil, tc.wantSummary)
			}
			if got.Message == "" {
				t.Error("empty message")
			}
			for _, s := range tc.msgHas {
				if !strings.Contains(got.Message, s) {
					t.Errorf("message %q does not mention %q", got.Message, s)
				}
			}
		})
	}
}

func TestClassifyNilPod(t *testing.T) {
	if o := Classify(nil); o.State != StateInfraFailed || o.Reason != ReasonPodMissing {
		t.Errorf("Classify(nil) = %+v", o)
	}
}

func TestClassifyOOMWithoutLimit(t *testing.T) {
	pod := basePod(t)
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	pod.Status = corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 137, "OOMKilled", "")}}
	if o := Classify(pod); !strings.Contains(o.Message, "unset") {
		t.Errorf("message %q should say there was no memory limit", o.Message)
	}
}

// The runner's message restating the first failure is not repeated in the job's message.
func TestFailureMessageSaysTheErrorOnce(t *testing.T) {
	pod := basePod(t)
	pod.Status.Phase = corev1.PodFailed
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{prepareDone()}
	err := "ValueError: bad value: 7"
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{terminated(NotebookContainer, 1, "Error", encode(t, summary.Summary{
		Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Message: "cell 1 failed: " + err,
		Cells: summary.Counts{Total: 3, Passed: 1, Failed: 1, Skipped: 1}, FirstFailure: &summary.Cell{Index: 1, Status: summary.CellFailure, Error: err}}))}
	o := Classify(pod)
	if o.State != StateFailed || strings.Count(o.Message, err) != 1 || !strings.Contains(o.Message, "cell 1") {
		t.Errorf("outcome %s %q: want Failed naming cell 1 and saying %q once", o.State, o.Message, err)
	}
}
