package buildchild

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// A failed PipelineRun is observed with the step that failed, read from its TaskRun: Tekton's
// own message counts tasks only. Without a TaskRun to read, Tekton's message stays and says
// why the step is unknown.
func TestObserveChildNamesTheFailedStep(t *testing.T) {
	j := job(v1alpha1.BuildStrategyTekton, nil)
	failed := pipelineRunObject(t, j, corev1.ConditionFalse, "Failed")
	refs := []any{map[string]any{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "nb-build-build", "pipelineTaskName": "build"}}
	if err := unstructured.SetNestedSlice(failed.Object, refs, "status", "childReferences"); err != nil {
		t.Fatal(err)
	}
	tr := &pipelinev1.TaskRun{
		TypeMeta:   metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "TaskRun"},
		ObjectMeta: metav1.ObjectMeta{Name: "nb-build-build", Namespace: j.Namespace},
	}
	tr.Status.PodName = "nb-build-build-pod"
	tr.Status.Steps = []pipelinev1.StepState{
		{Name: "clone", Container: "step-clone", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}},
		{Name: "build", Container: "step-build", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(tr)
	if err != nil {
		t.Fatal(err)
	}

	b, _ := newBuilds(failed, &unstructured.Unstructured{Object: u})
	obs, err := b.ObserveChild(context.Background(), j, childapi.PipelineRuns, "nb-build")
	if err != nil || obs.Message != "msg" {
		t.Errorf("without ExplainsFailedSteps: %+v %v, want Tekton's message alone", obs, err)
	}
	b.ExplainsFailedSteps = true
	obs, err = b.ObserveChild(context.Background(), j, childapi.PipelineRuns, "nb-build")
	if err != nil || obs.Kind != statemachine.BuildFailed {
		t.Fatalf("failed child: %+v %v", obs, err)
	}
	if want := `msg; step "build" of TaskRun nb-build-build exited with code 3 (its output: kubectl logs -n ` + j.Namespace + ` nb-build-build-pod -c step-build)`; obs.Message != want {
		t.Errorf("message %q\nwant %q", obs.Message, want)
	}

	b, _ = newBuilds(failed)
	b.ExplainsFailedSteps = true
	obs, err = b.ObserveChild(context.Background(), j, childapi.PipelineRuns, "nb-build")
	if err != nil || !strings.HasPrefix(obs.Message, "msg (the failed step is unknown: get TaskRun") {
		t.Errorf("TaskRun gone: %+v %v, want Tekton's message and why the step is unknown", obs, err)
	}
}

// A user's Pipeline with many tasks, none of whose TaskRuns shows a failed step: the reads
// stop at maxTaskRunsRead and Tekton's message stays.
func TestExplainFailureReadsBoundedTaskRuns(t *testing.T) {
	j := job(v1alpha1.BuildStrategyTekton, nil)
	failed := pipelineRunObject(t, j, corev1.ConditionFalse, "Failed")
	var refs []any
	objs := []runtime.Object{failed}
	for i := range 3 * maxTaskRunsRead {
		name := fmt.Sprintf("task-%d", i)
		refs = append(refs, map[string]any{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": name})
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&pipelinev1.TaskRun{
			TypeMeta:   metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "TaskRun"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: j.Namespace},
		})
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: u})
	}
	if err := unstructured.SetNestedSlice(failed.Object, refs, "status", "childReferences"); err != nil {
		t.Fatal(err)
	}
	b, f := newBuilds(objs...)
	b.ExplainsFailedSteps = true
	obs, err := b.ObserveChild(context.Background(), j, childapi.PipelineRuns, "nb-build")
	if err != nil || obs.Message != "msg" {
		t.Errorf("no failed step among the TaskRuns: %+v %v, want Tekton's message", obs, err)
	}
	reads := 0
	for _, a := range f.actions("get") {
		if strings.HasPrefix(a, "get taskruns/") {
			reads++
		}
	}
	if reads != maxTaskRunsRead {
		t.Errorf("%d TaskRuns read for one failed PipelineRun of %d, want %d", reads, 3*maxTaskRunsRead, maxTaskRunsRead)
	}
}
