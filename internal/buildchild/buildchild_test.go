package buildchild

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	buildv1 "github.com/openshift/api/build/v1"
	buildfake "github.com/openshift/client-go/build/clientset/versioned/fake"
	buildclient "github.com/openshift/client-go/build/clientset/versioned/typed/build/v1"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
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
	"github.com/mlops-dev/nbv/internal/jobstore"
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
		{childapi.ImageStreams.GVR, s2i.ImageStreamGVR},
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

// generatedClient stands OpenShift's generated build client (here its fake) in for the
// dynamic one: both fit OpenShiftBuilds.
type generatedClient struct{ c buildclient.BuildV1Interface }

func (g generatedClient) BuildConfigs(namespace string) typedClient[*buildv1.BuildConfig] {
	return g.c.BuildConfigs(namespace)
}

func (g generatedClient) Builds(namespace string) typedClient[*buildv1.Build] {
	return g.c.Builds(namespace)
}

// fakes are the two clients' fakes behind a Builds: the dynamic client (PipelineRuns) and
// OpenShift's typed build client (BuildConfigs, Builds).
type fakes struct {
	dyn *dynamicfake.FakeDynamicClient
	oc  *buildfake.Clientset
}

// newBuilds puts each object in the fake of the client that serves it.
func newBuilds(objs ...runtime.Object) (*Builds, fakes) {
	var dyn, oc []runtime.Object
	for _, o := range objs {
		switch o.(type) {
		case *buildv1.Build, *buildv1.BuildConfig:
			oc = append(oc, o)
		default:
			dyn = append(dyn, o)
		}
	}
	f := fakes{
		dyn: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
			tekton.GVR: "PipelineRunList", childapi.TaskRuns.GVR: "TaskRunList", s2i.BuildGVR: "BuildList", s2i.BuildConfigGVR: "BuildConfigList", s2i.ImageStreamGVR: "ImageStreamList",
		}, dyn...),
		oc: buildfake.NewSimpleClientset(oc...),
	}
	opts := OptionsFrom(functionenv.BuildSettings{TektonBuilderImage: "registry.example.com/buildah:1", TektonOutputImage: "registry.example.com/{namespace}/{name}:{uid}"})
	return &Builds{API: childapi.NewForDynamic(f.dyn), OpenShift: generatedClient{f.oc.BuildV1()}, Opts: opts}, f
}

// failCreates makes every create through either client fail with err.
func (f fakes) failCreates(err error) {
	react := func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err }
	f.dyn.PrependReactor("create", "*", react)
	f.oc.PrependReactor("create", "*", react)
}

// actions are the requests of both clients, dynamic first, as "verb resource/name".
func (f fakes) actions(verbs ...string) []string {
	var out []string
	for _, a := range append(f.dyn.Actions(), f.oc.Actions()...) {
		if !slices.Contains(verbs, a.GetVerb()) {
			continue
		}
		name := ""
		switch a := a.(type) {
		case k8stesting.CreateAction:
			name = a.GetObject().(metav1.Object).GetName()
		case k8stesting.GetAction:
			name = a.GetName()
		case k8stesting.DeleteAction:
			name = a.GetName()
		}
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource+"/"+name)
	}
	return out
}

// childName is the build child of every job(...): named after the job and its UID.
var childName = statemachine.BuildName(job("", nil))

func TestStartBuildTekton(t *testing.T) {
	j := job(v1alpha1.BuildStrategyTekton, func(bc *v1alpha1.BuildConfigSpec) { bc.FallbackStrategy = build.FallbackFail })
	b, f := newBuilds()
	if err := b.StartBuild(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if got := f.actions("create"); strings.Join(got, ",") != "create pipelineruns/"+childName {
		t.Fatalf("created %v, want the PipelineRun %s", got, childName)
	}
	u, err := f.dyn.Resource(tekton.GVR).Namespace("ns").Get(context.Background(), childName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got tekton.PipelineRun
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &got); err != nil {
		t.Fatal(err)
	}
	// What was created is exactly the builder's object for the deployment's options, so the
	// builder's handling of fallbackStrategy, images and the deadline reaches the cluster.
	want, err := tekton.NewPipelineRun(j, childName, b.Opts.Tekton)
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
	b, f := newBuilds()
	if err := b.StartBuild(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	// The ImageStream the Build pushes to (dynamic client), then the BuildConfig and the
	// Build (typed client).
	if got := f.actions("create"); strings.Join(got, ",") != "create imagestreams/nb,create buildconfigs/"+childName+",create builds/"+childName || len(f.dyn.Actions()) != 1 {
		t.Fatalf("created %v (dynamic client: %v), want the ImageStream, then the BuildConfig and the Build, typed", got, f.dyn.Actions())
	}
	is, err := f.dyn.Resource(s2i.ImageStreamGVR).Namespace("ns").Get(context.Background(), "nb", metav1.GetOptions{})
	if err != nil || !metav1.IsControlledBy(is, j) || is.GetLabels()[v1alpha1.LabelJob] != "nb" || is.GetKind() != "ImageStream" {
		t.Errorf("ImageStream %v (%v), want one named after the job, under its control and label", is, err)
	}
	got, err := f.oc.BuildV1().Builds("ns").Get(context.Background(), childName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.CompletionDeadlineSeconds == nil || *got.Spec.CompletionDeadlineSeconds != 1200 || !metav1.IsControlledBy(got, j) {
		t.Errorf("Build deadline %v controlled %v, want 1200 s under the job", got.Spec.CompletionDeadlineSeconds, metav1.IsControlledBy(got, j))
	}
	want, err := s2i.BuildConfig(j, childName, b.Opts.S2I)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := f.oc.BuildV1().BuildConfigs("ns").Get(context.Background(), childName, metav1.GetOptions{})
	if err != nil || !reflect.DeepEqual(bc.Spec, want.Spec) || !metav1.IsControlledBy(bc, j) {
		t.Errorf("created BuildConfig %+v %v, want the builder's under the job", bc, err)
	}
	// A second start (a redelivered event) finds its own children: success, nothing new,
	// and the existing ImageStream is not read (its creator needs only "create").
	f.dyn.ClearActions()
	if err := b.StartBuild(context.Background(), j); err != nil {
		t.Errorf("second StartBuild: %v", err)
	}
	if got := f.actions("get"); slices.Contains(got, "get imagestreams/nb") {
		t.Errorf("requests %v read the ImageStream", got)
	}
	if n, err := f.oc.BuildV1().Builds("ns").List(context.Background(), metav1.ListOptions{}); err != nil || len(n.Items) != 1 {
		t.Errorf("Builds after a second start: %v %v, want the one", n, err)
	}
}

// The typed client obeys the create rules of childapi.CreateOwned like the dynamic one: the
// same outcomes for the BuildConfig and Build as for a PipelineRun.
func TestStartBuildCreateRules(t *testing.T) {
	j := job(v1alpha1.BuildStrategyS2I, nil)
	other := j.DeepCopy()
	other.UID = "someone-else"
	taken := func(owner *v1alpha1.NotebookValidationJob) runtime.Object {
		bc, err := s2i.BuildConfig(j, childName, s2i.Options{})
		if err != nil {
			t.Fatal(err)
		}
		bc.OwnerReferences = nil
		if owner != nil {
			bc.ObjectMeta = build.ChildMeta(owner, childName)
		}
		return bc
	}
	cases := []struct {
		name      string
		existing  []runtime.Object
		createErr error
		want      string // "" is success
		permanent bool
		notOwned  bool
	}{
		{name: "BuildConfig exists, ours", existing: []runtime.Object{taken(j)}},
		{name: "BuildConfig exists, someone else's", existing: []runtime.Object{taken(other)}, want: "its controller is NotebookValidationJob nb (uid someone-else)", permanent: true, notOwned: true},
		{name: "BuildConfig exists, no controller", existing: []runtime.Object{taken(nil)}, want: "its controller is none", permanent: true, notOwned: true},
		{name: "invalid", createErr: apierrors.NewInvalid(schema.GroupKind{Group: "build.openshift.io", Kind: "BuildConfig"}, childName, field.ErrorList{field.Required(field.NewPath("spec"), "")}), want: "is invalid: spec: Required value", permanent: true},
		{name: "unavailable is retried", createErr: apierrors.NewServiceUnavailable("etcd"), want: "create BuildConfig ns/" + childName + ": etcd"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, f := newBuilds(c.existing...)
			if c.createErr != nil {
				f.oc.PrependReactor("create", "*", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, c.createErr })
			}
			err := b.StartBuild(context.Background(), j)
			if c.want == "" {
				if err != nil {
					t.Fatalf("StartBuild: %v", err)
				}
				if _, err := f.oc.BuildV1().Builds("ns").Get(context.Background(), childName, metav1.GetOptions{}); err != nil {
					t.Errorf("Build after an owned BuildConfig: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("StartBuild = %v, want it to mention %q", err, c.want)
			}
			if errors.Is(err, transition.ErrPermanent) != c.permanent || errors.Is(err, jobstore.ErrNotOwned) != c.notOwned {
				t.Errorf("StartBuild = %v: permanent %v, not owned %v; want %v, %v", err, errors.Is(err, transition.ErrPermanent), errors.Is(err, jobstore.ErrNotOwned), c.permanent, c.notOwned)
			}
			if !c.permanent && !apierrors.IsServiceUnavailable(err) {
				t.Errorf("retried error %v lost its API status", err)
			}
			if got := f.actions("create"); len(got) != 2 || got[1] != "create buildconfigs/"+childName {
				t.Errorf("creates %v, want the ImageStream and the BuildConfig only (no Build after a failure)", got)
			}
		})
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
		{"not OpenShift", v1alpha1.BuildStrategyS2I, nil, notServed(s2i.BuildConfigGVR), "run the job on an OpenShift cluster (it serves image.openshift.io/v1 ImageStreams)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, f := newBuilds()
			if c.createErr != nil {
				f.failCreates(c.createErr)
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

func openshiftBuild(owner *v1alpha1.NotebookValidationJob, phase buildv1.BuildPhase, reason buildv1.StatusReason) *buildv1.Build {
	b := &buildv1.Build{ObjectMeta: build.ChildMeta(owner, "nb-build")}
	b.Status.Phase, b.Status.Reason = phase, reason
	return b
}

// A Build is read with the typed client and observed as it is; the rules are the
// PipelineRun's.
func TestObserveChildBuild(t *testing.T) {
	j := job(v1alpha1.BuildStrategyS2I, nil)
	stranger := j.DeepCopy()
	stranger.UID = "someone-else"
	ctx := context.Background()

	b, f := newBuilds(openshiftBuild(j, buildv1.BuildPhaseFailed, s2i.ReasonDeadlineExceeded))
	obs, err := b.ObserveChild(ctx, j, childapi.Builds, "nb-build")
	if err != nil || obs.Kind != statemachine.BuildTimedOut || obs.BuildName != "nb-build" {
		t.Errorf("timed-out Build: %+v %v", obs, err)
	}
	if got := f.actions("get"); strings.Join(got, ",") != "get builds/nb-build" || len(f.dyn.Actions()) != 0 {
		t.Errorf("requests %v (dynamic: %v), want one typed get of the Build", got, f.dyn.Actions())
	}

	b, _ = newBuilds(openshiftBuild(j, buildv1.BuildPhaseRunning, ""))
	building := j.DeepCopy()
	building.Status.Phase = v1alpha1.PhaseBuilding
	building.Status.BuildStatus = &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyS2I, BuildName: "nb-build"}
	if obs, err := b.ObserveBuild(ctx, building); err != nil || obs.Kind != statemachine.BuildRunning {
		t.Errorf("ObserveBuild of a running Build: %+v %v", obs, err)
	}

	b, _ = newBuilds()
	obs, err = b.ObserveChild(ctx, j, childapi.Builds, "nb-build")
	if err != nil || obs.Kind != statemachine.BuildFailed || obs.Reason != observe.ReasonBuildDeleted {
		t.Errorf("missing Build: %+v %v, want a failed build (deleted)", obs, err)
	}

	b, _ = newBuilds(openshiftBuild(stranger, buildv1.BuildPhaseComplete, ""))
	if _, err := b.ObserveChild(ctx, j, childapi.Builds, "nb-build"); !errors.Is(err, function.ErrBadInput) {
		t.Errorf("Build of another job: %v, want ErrBadInput", err)
	}

	b, f = newBuilds()
	f.oc.PrependReactor("get", "builds", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewTooManyRequests("slow down", 2)
	})
	if _, err := b.ObserveChild(ctx, j, childapi.Builds, "nb-build"); !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "get Build ns/nb-build") {
		t.Errorf("throttled get: %v, want the 429 with context", err)
	}

	// BuildConfigs are not observed: read raw, they are an unknown kind.
	bc := &unstructured.Unstructured{}
	bc.SetAPIVersion(childapi.BuildConfigs.APIVersion())
	bc.SetKind(childapi.BuildConfigs.Kind)
	bc.SetNamespace("ns")
	bc.SetName("nb-build")
	bc.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(j, v1alpha1.GroupVersionKind)})
	b, _ = newBuilds(bc)
	if _, err := b.ObserveChild(ctx, j, childapi.BuildConfigs, "nb-build"); !errors.Is(err, function.ErrBadInput) || !strings.Contains(err.Error(), ErrUnknownKind.Error()) {
		t.Errorf("BuildConfig: %v, want ErrBadInput for an unknown kind", err)
	}
}

func TestDeleteBuild(t *testing.T) {
	j := job(v1alpha1.BuildStrategyS2I, nil)
	pr := func(t *testing.T) runtime.Object { return pipelineRunObject(t, j, corev1.ConditionTrue, "Succeeded") }
	bc := func(*testing.T) runtime.Object {
		return &buildv1.BuildConfig{ObjectMeta: build.ChildMeta(j, "nb-build")}
	}
	bld := func(*testing.T) runtime.Object { return openshiftBuild(j, buildv1.BuildPhaseRunning, "") }
	cases := []struct {
		name     string
		status   *v1alpha1.BuildStatus
		existing []func(*testing.T) runtime.Object
		deleted  string
	}{
		{"tekton", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyTekton, BuildName: "nb-build"},
			[]func(*testing.T) runtime.Object{pr, bld}, "delete pipelineruns/nb-build"},
		{"s2i", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyS2I, BuildName: "nb-build"},
			[]func(*testing.T) runtime.Object{pr, bld, bc}, "delete builds/nb-build,delete buildconfigs/nb-build"},
		{"already gone", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyS2I, BuildName: "nb-build"}, nil,
			"delete builds/nb-build,delete buildconfigs/nb-build"},
		{"external has no child", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyExternal}, nil, ""},
		{"nothing recorded", nil, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, o := range c.existing {
				objs = append(objs, o(t))
			}
			b, f := newBuilds(objs...)
			jj := j.DeepCopy()
			jj.Status.BuildStatus = c.status
			if err := b.DeleteBuild(context.Background(), jj); err != nil {
				t.Fatalf("DeleteBuild: %v", err)
			}
			if got := strings.Join(f.actions("delete"), ","); got != c.deleted {
				t.Errorf("deleted %q, want %q", got, c.deleted)
			}
			for _, a := range append(f.dyn.Actions(), f.oc.Actions()...) {
				if d, ok := a.(k8stesting.DeleteAction); ok {
					if p := d.GetDeleteOptions().PropagationPolicy; p == nil || *p != metav1.DeletePropagationBackground {
						t.Errorf("%s deleted with propagation %v, want Background", d.GetResource().Resource, p)
					}
				}
			}
			// What was not deleted is still there.
			_, prErr := f.dyn.Resource(tekton.GVR).Namespace("ns").Get(context.Background(), "nb-build", metav1.GetOptions{})
			_, bldErr := f.oc.BuildV1().Builds("ns").Get(context.Background(), "nb-build", metav1.GetOptions{})
			if c.name == "s2i" && (prErr != nil || !apierrors.IsNotFound(bldErr)) {
				t.Errorf("s2i: PipelineRun %v, Build %v; want only the Build gone", prErr, bldErr)
			}
			if c.name == "tekton" && (!apierrors.IsNotFound(prErr) || bldErr != nil) {
				t.Errorf("tekton: PipelineRun %v, Build %v; want only the PipelineRun gone", prErr, bldErr)
			}
		})
	}
}

// Deleting through the typed client follows childapi.DeleteResult: an API not served counts
// as deleted, anything else is returned for a retry.
func TestDeleteBuildErrors(t *testing.T) {
	j := job(v1alpha1.BuildStrategyS2I, nil)
	j.Status.BuildStatus = &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyS2I, BuildName: "nb-build"}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"not served", notServed(s2i.BuildGVR), ""},
		{"forbidden", apierrors.NewForbidden(s2i.BuildGVR.GroupResource(), "nb-build", errors.New("rbac")), "delete Build ns/nb-build"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, f := newBuilds()
			f.oc.PrependReactor("delete", "*", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, c.err })
			err := b.DeleteBuild(context.Background(), j)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !apierrors.IsForbidden(err)) {
				t.Errorf("DeleteBuild = %v, want %q", err, c.want)
			}
		})
	}
}

// TestStartBuildS2IImageStream: an ImageStream of the job's name that someone else made is
// pushed to as it is (created "when absent"); a build with an output image needs none.
func TestStartBuildS2IImageStream(t *testing.T) {
	j := job(v1alpha1.BuildStrategyS2I, nil)
	users := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
		"metadata": map[string]any{"name": "nb", "namespace": "ns", "annotations": map[string]any{"team": "ml"}}}}
	b, f := newBuilds(users)
	if err := b.StartBuild(context.Background(), j); err != nil {
		t.Fatalf("StartBuild with the user's ImageStream: %v", err)
	}
	is, err := f.dyn.Resource(s2i.ImageStreamGVR).Namespace("ns").Get(context.Background(), "nb", metav1.GetOptions{})
	if err != nil || len(is.GetOwnerReferences()) != 0 || is.GetAnnotations()["team"] != "ml" {
		t.Errorf("the user's ImageStream changed: %v (%v)", is, err)
	}
	if _, err := f.oc.BuildV1().Builds("ns").Get(context.Background(), childName, metav1.GetOptions{}); err != nil {
		t.Errorf("no Build: %v", err)
	}

	withOutput := job(v1alpha1.BuildStrategyS2I, func(bc *v1alpha1.BuildConfigSpec) {
		bc.StrategyConfig = map[string]string{s2i.KeyOutputImage: "quay.io/ml/{name}:{uid}"}
	})
	b, f = newBuilds()
	if err := b.StartBuild(context.Background(), withOutput); err != nil {
		t.Fatal(err)
	}
	if got := f.actions("create"); slices.Contains(got, "create imagestreams/nb") {
		t.Errorf("creates %v: a build pushing to an output image needs no ImageStream", got)
	}
}

// The dynamic client that serves BuildConfigs and Builds in the functions writes what
// OpenShift's generated client would, and reads it back as the same typed objects.
func TestDynamicOpenShiftMatchesTheGenerated(t *testing.T) {
	j := job(v1alpha1.BuildStrategyS2I, nil)
	b, f := newBuilds()
	b.OpenShift = dynamicOpenShift{b.API}
	if err := b.StartBuild(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	want, err := s2i.Build(j, childName, b.Opts.S2I)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.OpenShift.Builds("ns").Get(context.Background(), childName, metav1.GetOptions{})
	if err != nil || !reflect.DeepEqual(got.Spec, want.Spec) || !metav1.IsControlledBy(got, j) || got.Kind != "Build" {
		t.Fatalf("Build read back %+v (%v), want the builder's under the job", got, err)
	}
	if _, err := b.OpenShift.BuildConfigs("ns").Get(context.Background(), childName, metav1.GetOptions{}); err != nil {
		t.Errorf("BuildConfig: %v", err)
	}
	if got := f.actions("create"); strings.Join(got, ",") != "create imagestreams/nb,create buildconfigs/"+childName+",create builds/"+childName {
		t.Errorf("created %v, want the ImageStream, the BuildConfig and the Build through the dynamic client", got)
	}
	o, err := b.ObserveBuild(context.Background(), j)
	if err != nil || o.Kind != statemachine.BuildPending {
		t.Errorf("observed %+v %v, want the new Build pending", o, err)
	}
	recorded := j.DeepCopy()
	recorded.Status.BuildStatus = &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyS2I, BuildName: childName}
	if err := b.DeleteBuild(context.Background(), recorded); err != nil {
		t.Fatal(err)
	}
	if _, err := b.OpenShift.Builds("ns").Get(context.Background(), childName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Build after delete: %v, want NotFound", err)
	}
}
