package integration

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// TestTakenChildNameIsReadBack: job-created and the sweep both create children, and when the
// name is taken they read the object there to tell an earlier attempt of their own from
// someone else's. For every child kind and both functions, acting as their ServiceAccounts, an
// object placed at the child's name by someone else fails the job ChildNameTaken (so the
// read is allowed: TestRBACEqualsUse counts these gets as used).
func TestTakenChildNameIsReadBack(t *testing.T) {
	cases := []struct {
		name, strategy string
		squat          *childapi.Resource // nil: the validation pod
	}{
		{"pod", "", nil},
		{"pipelinerun", v1alpha1.BuildStrategyTekton, &childapi.PipelineRuns},
		{"buildconfig", v1alpha1.BuildStrategyS2I, &childapi.BuildConfigs},
		{"build", v1alpha1.BuildStrategyS2I, &childapi.Builds},
	}
	for _, service := range []string{"job-created", "sweep"} {
		for _, tc := range cases {
			t.Run(service+"/"+tc.name, func(t *testing.T) {
				f := newSweepFixture(t)
				settings := functionenv.Settings{Kube: f.functionConfig(service), Pod: validationpod.Options{RunnerImage: testRunnerImage}}
				builds, err := buildchild.New(settings)
				if err != nil {
					t.Fatal(err)
				}
				x, _, err := functionenv.NewExecutor(service, settings, builds)
				if err != nil {
					t.Fatal(err)
				}
				job := f.createJob("squatted", func(j *v1alpha1.NotebookValidationJob) {
					if tc.strategy != "" {
						j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: tc.strategy}
					}
				})
				f.squat(job, tc.squat)
				seen := func(context.Context, *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
					return statemachine.Observation{Kind: statemachine.JobSeen}, nil
				}
				for range 2 { // "" -> Initializing, then the creation that finds the name taken
					if _, err := x.Run(f.ctx, f.ns, "squatted", seen); err != nil {
						t.Fatalf("%s: %v", service, err)
					}
				}
				job = f.get("squatted")
				if cond := findCondition(job, v1alpha1.ConditionReady); job.Status.Phase != v1alpha1.PhaseFailed || cond == nil || cond.Reason != statemachine.ReasonChildNameTaken {
					t.Errorf("phase %s Ready %+v, want Failed with reason %s", job.Status.Phase, cond, statemachine.ReasonChildNameTaken)
				}
			})
		}
	}
}

// squat creates, as the admin and with no owner, an object of resource r (the validation pod
// when nil) at the name job's child of that kind gets.
func (f *sweepFixture) squat(job *v1alpha1.NotebookValidationJob, r *childapi.Resource) {
	f.t.Helper()
	labels := map[string]string{v1alpha1.LabelJob: job.Name}
	if r == nil {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: statemachine.PodName(job, 0), Namespace: f.ns, Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example.com/squatter:1"}}},
		}
		if _, err := f.kube.CoreV1().Pods(f.ns).Create(f.ctx, pod, metav1.CreateOptions{}); err != nil {
			f.t.Fatal(err)
		}
		return
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	obj.SetAPIVersion(r.APIVersion())
	obj.SetKind(r.Kind)
	obj.SetName(statemachine.BuildName(job))
	obj.SetLabels(labels)
	if _, err := f.children(*r).Create(f.ctx, obj, metav1.CreateOptions{}); err != nil {
		f.t.Fatalf("squatting %s: %v", r.Kind, err)
	}
}
