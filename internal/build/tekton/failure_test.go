package tekton

import (
	"encoding/json"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Tekton's own TaskRun and PipelineRun, as the API server hands them over, read into ours:
// the failed step and the TaskRun names come through.
func TestFailedStepIsReadFromTektonsTaskRun(t *testing.T) {
	real := pipelinev1.TaskRun{Status: pipelinev1.TaskRunStatus{TaskRunStatusFields: pipelinev1.TaskRunStatusFields{
		PodName: "nbv-build-pod",
		Steps: []pipelinev1.StepState{
			{Name: "clone", Container: "step-clone", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
			{Name: "build", Container: "step-build", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}},
			{Name: "after", Container: "step-after", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
		},
	}}}
	var tr TaskRun
	if err := json.Unmarshal(marshal(t, &real), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Status.PodName != "nbv-build-pod" {
		t.Errorf("pod name %q", tr.Status.PodName)
	}
	step, ok := FailedStep(&tr)
	if !ok || step.Name != "build" || step.Container != "step-build" || step.Terminated.ExitCode != 3 {
		t.Errorf("failed step %+v %v, want the first non-zero one: build, exit 3", step, ok)
	}

	realRun := pipelinev1.PipelineRun{Status: pipelinev1.PipelineRunStatus{PipelineRunStatusFields: pipelinev1.PipelineRunStatusFields{
		ChildReferences: []pipelinev1.ChildStatusReference{
			{TypeMeta: runtime.TypeMeta{APIVersion: APIVersion, Kind: "TaskRun"}, Name: "nbv-build-build"},
			{TypeMeta: runtime.TypeMeta{APIVersion: "tekton.dev/v1beta1", Kind: "CustomRun"}, Name: "other"},
		},
	}}}
	var pr PipelineRun
	if err := json.Unmarshal(marshal(t, &realRun), &pr); err != nil {
		t.Fatal(err)
	}
	if got := TaskRunNames(&pr); len(got) != 1 || got[0] != "nbv-build-build" {
		t.Errorf("TaskRun names %q, want only the TaskRun", got)
	}
}

func TestFailedStepNoneWhenAllSucceeded(t *testing.T) {
	for name, tr := range map[string]TaskRun{
		"no status": {},
		"all zero":  {Status: &TaskRunStatus{Steps: []StepState{{Name: "a", Terminated: &corev1.ContainerStateTerminated{}}}}},
		"running":   {Status: &TaskRunStatus{Steps: []StepState{{Name: "a"}}}},
	} {
		if s, ok := FailedStep(&tr); ok {
			t.Errorf("%s: failed step %+v", name, s)
		}
	}
}

func TestFailureMessageNamesTheStepAndWhereItsOutputIs(t *testing.T) {
	tr := &TaskRun{Status: &TaskRunStatus{PodName: "tr-1-pod"}}
	tr.Name, tr.Namespace = "tr-1", "team-a"
	step := StepState{Name: "build", Container: "step-build", Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}
	got := FailureMessage("Tasks Completed: 1 (Failed: 1)", tr, step)
	want := `Tasks Completed: 1 (Failed: 1); step "build" of TaskRun tr-1 exited with code 3 (its output: kubectl logs -n team-a tr-1-pod -c step-build)`
	if got != want {
		t.Errorf("message\n%q\nwant\n%q", got, want)
	}
	tr.Status.PodName = ""
	if got := FailureMessage("", tr, step); got != `step "build" of TaskRun tr-1 exited with code 3` {
		t.Errorf("without a pod: %q", got)
	}
}
