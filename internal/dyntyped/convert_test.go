package dyntyped_test

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build/s2i"
	"github.com/mlops-dev/nbv/internal/build/tekton"
	"github.com/mlops-dev/nbv/internal/dyntyped"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

func buildJob(strategy string) *v1alpha1.NotebookValidationJob {
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nb1", Namespace: "team-a", UID: types.UID("0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"), CreationTimestamp: metav1.Now()},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook: v1alpha1.NotebookSpec{
				Git:  v1alpha1.GitSpec{URL: "https://git.example.com/org/repo.git", Ref: "v1.2", CredentialsSecret: "git-creds"},
				Path: "nb/analysis.ipynb",
			},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "python:3.12",
				BuildConfig: &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: strategy, Timeout: "10m", BaseImage: "python:3.12"}},
		},
	}
}

// TestConvertersAgreeWithApimachinery: what the functions create and read (a validation pod,
// a PipelineRun, an OpenShift Build and ImageStream) converts to and from unstructured
// content exactly as runtime.DefaultUnstructuredConverter converts it, integers as int64.
func TestConvertersAgreeWithApimachinery(t *testing.T) {
	pod, err := validationpod.Build(buildJob(v1alpha1.BuildStrategyTekton), "nb1-validation", "python:3.12", validationpod.Options{RunnerImage: "runner:1"})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodSucceeded, StartTime: &metav1.Time{Time: metav1.Now().Rfc3339Copy().Time},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "notebook", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Message: "summary"}}}}}
	pr, err := tekton.NewPipelineRun(buildJob(v1alpha1.BuildStrategyTekton), "nb1-build", tekton.Options{})
	if err != nil {
		t.Fatal(err)
	}
	started := metav1.NewTime(metav1.Now().Rfc3339Copy().Time)
	pr.Status = &tekton.PipelineRunStatus{StartTime: &started, CompletionTime: &started,
		Conditions: []tekton.Condition{{Type: tekton.ConditionSucceeded, Status: corev1.ConditionTrue, Reason: "Succeeded"}},
		Results:    []tekton.PipelineRunResult{{Name: "IMAGE_DIGEST", Value: tekton.ResultValue{String: "sha256:0123"}}}}
	bld, err := s2i.Build(buildJob(v1alpha1.BuildStrategyS2I), "nb1-build", s2i.Options{})
	if err != nil {
		t.Fatal(err)
	}
	is, err := s2i.ImageStream(buildJob(v1alpha1.BuildStrategyS2I), s2i.Options{})
	if err != nil || is == nil {
		t.Fatalf("image stream %v, %v", is, err)
	}
	for _, obj := range []any{pod, pr, bld, is} {
		t.Run(reflect.TypeOf(obj).Elem().Name(), func(t *testing.T) {
			got, err := dyntyped.ToUnstructured(obj)
			if err != nil {
				t.Fatal(err)
			}
			want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ToUnstructured gave\n%#v\napimachinery\n%#v", got, want)
			}
			back := reflect.New(reflect.TypeOf(obj).Elem()).Interface()
			if err := dyntyped.FromUnstructured(got, back); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(back, obj) {
				t.Errorf("FromUnstructured(ToUnstructured(x)) gave\n%+v\nwant\n%+v", back, obj)
			}
		})
	}
}

// TestFromUnstructuredRefusesAMismatch: content that does not fit the type is an error, not
// a zero value.
func TestFromUnstructuredRefusesAMismatch(t *testing.T) {
	err := dyntyped.FromUnstructured(map[string]any{"spec": map[string]any{"containers": "not a list"}}, &corev1.Pod{})
	if err == nil {
		t.Fatal("a string for a list decoded")
	}
}
