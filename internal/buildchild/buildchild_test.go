package buildchild

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	buildv1 "github.com/openshift/api/build/v1"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build"
	"github.com/mlops-dev/nbv/internal/build/s2i"
	"github.com/mlops-dev/nbv/internal/build/tekton"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/observe"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/transition"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// childapi spells the GVRs out so that it links no typed structs; they must stay the
// builders' own.
func TestGVRsMatchTheBuilders(t *testing.T) {
	for _, c := range []struct {
		got, want schema.GroupVersionResource
	}{
		{childapi.PipelineRuns.GVR, tekton.GVR},
		{childapi.Builds.GVR, s2i.BuildGVR},
		{childapi.BuildConfigs.GVR, s2i.BuildConfigGVR},
	} {
		if c.got != c.want {
			t.Errorf("childapi GVR %v, builder GVR %v", c.got, c.want)
		}
	}
}

func job(strategy string, mutate func(*v1alpha1.BuildConfigSpec)) *v1alpha1.NotebookValidationJob {
	bc := &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: strategy, Timeout: "20m"}
	if mutate != nil {
		mutate(bc)
	}
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "ns", UID: "0123456789-uid"},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook:  v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "https://git.example.com/r.git", Ref: "main"}, Path: "nb/train.ipynb"},
			PodConfig: v1alpha1.PodConfigSpec{BuildConfig: bc},
		},
	}
}

func newBuilds(objs ...runtime.Object) (*Builds, *dynamicfake.FakeDynamicClient) {
	fake := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		tekton.GVR: "PipelineRunList", s2i.BuildGVR: "BuildList", s2i.BuildConfigGVR: "BuildConfigList",
	}, objs...)
	opts := OptionsFrom(functionenv.BuildSettings{TektonBuilderImage: "registry.example.com/buildah:1", TektonOutputImage: "registry.example.com/{namespace}/{name}:{uid}"})
	return &Builds{API: childapi.NewForDynamic(fake), Opts: opts}, fake
}

func created(fake *dynamicfake.FakeDynamicClient) []string {
	var out []string
	for _, a := range fake.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok {
			out = append(out, c.GetResource().Resource+"/"+c.GetObject().(*unstructured.Unstructured).GetName())
		}
	}
	return out
}

func TestStartBuildTekton(t *testing.T) {
	j := job(v1alpha1.BuildStrategyTekton, func(bc *v1alpha1.BuildConfigSpec) { bc.FallbackStrategy = build.FallbackFail })
	b, fake := newBuilds()
	if err := b.StartBuild(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if got := created(fake); strings.Join(got, ",") != "pipelineruns/nb-build" {
		t.Fatalf("created %v, want the PipelineRun nb-build", got)
	}
	u, err := fake.Resource(tekton.GVR).Namespace("ns").Get(context.Background(), statemachine.BuildName("nb"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got pipelinev1.PipelineRun
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &got); err != nil {
		t.Fatal(err)
	}
	// What was created is exactly the builder's object for the deployment's options, so the
	// builder's handling of fallbackStrategy, images and the deadline reaches the cluster.
	want, err := tekton.PipelineRun(j, "nb-build", b.Opts.Tekton)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Spec, want.Spec) || !metav1.IsControlledBy(&got, j) || got.Labels[v1alpha1.LabelJob] != "nb" {
		t.Errorf("created PipelineRun differs from the builder's:\n got %+v\nwant %+v", got.Spec, want.Spec)
	}
	if got.Spec.Timeouts.Pipeline.Duration.String() != "20m0s" {
		t.Errorf("timeout = %v, want the job's 20m", got.Spec.Timeouts.Pipeline)
	}
	if steps := got.Spec.PipelineSpec.Tasks[0].TaskSpec.Steps; steps[len(steps)-1].Image != "registry.example.com/buildah:1" {
		t.Errorf("build step image %q, want the deployment's NBV_TEKTON_BUILDER_IMAGE", steps[len(steps)-1].Image)
	}
	// A second start (a redelivered event) finds its own PipelineRun: success.
	if err := b.StartBuild(context.Background(), j); err != nil {
		t.Errorf("second StartBuild: %v", err)
	}
}

func TestStartBuildS2I(t *testing.T) {
	j := job(v1alpha1.BuildStrategyS2I, nil)
	b, fake := newBuilds()
	if err := b.StartBuild(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if got := created(fake); strings.Join(got, ",") != "buildconfigs/nb-build,builds/nb-build" {
		t.Fatalf("created %v, want the BuildConfig then the Build", got)
	}
	u, err := fake.Resource(s2i.BuildGVR).Namespace("ns").Get(context.Background(), "nb-build", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got buildv1.Build
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.CompletionDeadlineSeconds == nil || *got.Spec.CompletionDeadlineSeconds != 1200 || !metav1.IsControlledBy(&got, j) {
		t.Errorf("Build deadline %v controlled %v, want 1200 s under the job", got.Spec.CompletionDeadlineSeconds, metav1.IsControlledBy(&got, j))
	}
}

func TestStartBuildFailsPermanently(t *testing.T) {
	cases := []struct {
		name, strategy string
		mutate         func(*v1alpha1.BuildConfigSpec)
		createErr      error
		want           string
	}{
		{"bad fallbackStrategy", v1alpha1.BuildStrategyTekton, func(bc *v1alpha1.BuildConfigSpec) { bc.FallbackStrategy = "maybe" }, nil, "fallbackStrategy"},
		{"bad timeout", v1alpha1.BuildStrategyS2I, func(bc *v1alpha1.BuildConfigSpec) { bc.Timeout = "soon" }, nil, "buildConfig.timeout"},
		{"external has no child", v1alpha1.BuildStrategyExternal, nil, nil, "no build child"},
		{"tekton not installed", v1alpha1.BuildStrategyTekton, nil, notServed(tekton.GVR), "install Tekton Pipelines"},
		{"not OpenShift", v1alpha1.BuildStrategyS2I, nil, notServed(s2i.BuildConfigGVR), "OpenShift"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, fake := newBuilds()
			if c.createErr != nil {
				fake.PrependReactor("create", "*", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, c.createErr })
			}
			err := b.StartBuild(context.Background(), job(c.strategy, c.mutate))
			if !errors.Is(err, transition.ErrPermanent) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("StartBuild = %v, want a permanent error mentioning %q", err, c.want)
			}
		})
	}
}

// notServed is what a POST to an API the cluster does not serve returns.
func notServed(gvr schema.GroupVersionResource) error {
	return &unservedError{gvr}
}

type unservedError struct{ gvr schema.GroupVersionResource }

func (e *unservedError) Error() string { return "the server could not find the requested resource" }
func (e *unservedError) Status() metav1.Status {
	return metav1.Status{Status: metav1.StatusFailure, Code: 404, Reason: metav1.StatusReasonNotFound,
		Details: &metav1.StatusDetails{Group: e.gvr.Group, Kind: e.gvr.Resource}, Message: e.Error()}
}

func pipelineRunObject(t *testing.T, owner *v1alpha1.NotebookValidationJob, status corev1.ConditionStatus, reason string, results ...pipelinev1.PipelineRunResult) *unstructured.Unstructured {
	t.Helper()
	pr := &pipelinev1.PipelineRun{
		TypeMeta:   metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "PipelineRun"},
		ObjectMeta: build.ChildMeta(owner, "nb-build"),
	}
	pr.Status.Conditions = duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: status, Reason: reason, Message: "msg"}}
	pr.Status.Results = results
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pr)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: u}
}

func TestObserve(t *testing.T) {
	j := job(v1alpha1.BuildStrategyTekton, nil)
	ok := pipelineRunObject(t, j, corev1.ConditionTrue, "Succeeded",
		pipelinev1.PipelineRunResult{Name: tekton.ResultImageURL, Value: *pipelinev1.NewStructuredValues("registry.example.com/ns/nb:0123")},
		pipelinev1.PipelineRunResult{Name: tekton.ResultImageDigest, Value: *pipelinev1.NewStructuredValues(digest)})
	o, err := Observe(ok)
	if err != nil || o.State != build.StateSucceeded || o.Image != "registry.example.com/ns/nb:0123@"+digest {
		t.Errorf("PipelineRun succeeded: %+v %v, want the pinned image", o, err)
	}
	o, err = Observe(pipelineRunObject(t, j, corev1.ConditionFalse, string(pipelinev1.PipelineRunReasonTimedOut)))
	if err != nil || o.State != build.StateTimedOut {
		t.Errorf("PipelineRun timed out: %+v %v", o, err)
	}

	b := &buildv1.Build{TypeMeta: metav1.TypeMeta{APIVersion: "build.openshift.io/v1", Kind: "Build"}, ObjectMeta: build.ChildMeta(j, "nb-build")}
	b.Status.Phase = buildv1.BuildPhaseComplete
	b.Status.OutputDockerImageReference = "image-registry:5000/ns/nb:latest"
	b.Status.Output.To = &buildv1.BuildStatusOutputTo{ImageDigest: digest}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(b)
	if err != nil {
		t.Fatal(err)
	}
	o, err = Observe(&unstructured.Unstructured{Object: u})
	if err != nil || o.State != build.StateSucceeded || o.Image != "image-registry:5000/ns/nb:latest@"+digest {
		t.Errorf("Build complete: %+v %v", o, err)
	}

	other := &unstructured.Unstructured{}
	other.SetAPIVersion("tekton.dev/v1")
	other.SetKind("TaskRun")
	if _, err := Observe(other); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("TaskRun: %v, want ErrUnknownKind", err)
	}
}

func TestObserveChild(t *testing.T) {
	j := job(v1alpha1.BuildStrategyTekton, nil)
	stranger := j.DeepCopy()
	stranger.UID = "someone-else"

	b, _ := newBuilds(pipelineRunObject(t, j, corev1.ConditionUnknown, "Running"))
	obs, err := b.ObserveChild(context.Background(), j, childapi.PipelineRuns, "nb-build")
	if err != nil || obs.Kind != statemachine.BuildRunning || obs.BuildName != "nb-build" {
		t.Errorf("running child: %+v %v", obs, err)
	}

	b, _ = newBuilds()
	obs, err = b.ObserveChild(context.Background(), j, childapi.PipelineRuns, "nb-build")
	if err != nil || obs.Kind != statemachine.BuildFailed || obs.Reason != observe.ReasonBuildDeleted {
		t.Errorf("missing child: %+v %v, want a failed build (deleted)", obs, err)
	}

	b, _ = newBuilds(pipelineRunObject(t, stranger, corev1.ConditionTrue, "Succeeded"))
	if _, err := b.ObserveChild(context.Background(), j, childapi.PipelineRuns, "nb-build"); !errors.Is(err, function.ErrBadInput) {
		t.Errorf("child of another job: %v, want ErrBadInput", err)
	}

	// The sweep's view of a Building job follows the strategy recorded at start.
	building := j.DeepCopy()
	building.Spec.PodConfig.BuildConfig.Strategy = v1alpha1.BuildStrategyS2I
	building.Status.Phase = v1alpha1.PhaseBuilding
	building.Status.BuildStatus = &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyTekton, BuildName: "nb-build"}
	b, _ = newBuilds(pipelineRunObject(t, j, corev1.ConditionFalse, "Failed"))
	obs, err = b.ObserveBuild(context.Background(), building)
	if err != nil || obs.Kind != statemachine.BuildFailed || obs.Reason != "Failed" {
		t.Errorf("ObserveBuild: %+v %v, want the recorded PipelineRun's failure", obs, err)
	}
}
