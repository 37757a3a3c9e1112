package childapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/transition"
)

func testJob() *v1alpha1.NotebookValidationJob {
	return &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "ns", UID: "uid-1"}}
}

func child(job *v1alpha1.NotebookValidationJob, r Resource, owner *v1alpha1.NotebookValidationJob) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(r.APIVersion())
	u.SetKind(r.Kind)
	u.SetName("nb-build")
	u.SetNamespace(job.Namespace)
	if owner != nil {
		u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(owner, v1alpha1.GroupVersionKind)})
	}
	return u
}

func newFake(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	lists := map[schema.GroupVersionResource]string{
		PipelineRuns.GVR: "PipelineRunList", Builds.GVR: "BuildList", BuildConfigs.GVR: "BuildConfigList",
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, objs...)
}

// The errors client-go returns when the cluster lacks the API: the API server's 404 for an
// unknown resource, and a RESTMapper's no-match. A 404 about the namespace is not that.
func TestIsNotServed(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"404 for the resource", apierrors.NewNotFound(PipelineRuns.GVR.GroupResource(), ""), true},
		{"generic 404 response", apierrors.NewGenericServerResponse(404, "POST", PipelineRuns.GVR.GroupResource(), "", "", 0, true), true},
		{"no kind match", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "tekton.dev", Kind: "PipelineRun"}, SearchedVersions: []string{"v1"}}, true},
		{"no resource match", &meta.NoResourceMatchError{PartialResource: PipelineRuns.GVR}, true},
		{"wrapped no match", errors.Join(errors.New("mapping"), &meta.NoKindMatchError{GroupKind: schema.GroupKind{Kind: "Build"}}), true},
		{"namespace missing", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "ns"), false},
		{"forbidden", apierrors.NewForbidden(PipelineRuns.GVR.GroupResource(), "", errors.New("rbac")), false},
		{"unavailable", apierrors.NewServiceUnavailable("etcd"), false},
	}
	for _, c := range cases {
		if got := IsNotServed(c.err); got != c.want {
			t.Errorf("%s: IsNotServed = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCreate(t *testing.T) {
	job := testJob()
	other := testJob()
	other.UID = "uid-other"
	cases := []struct {
		name       string
		existing   []runtime.Object
		createErr  error
		wantErr    string // "" means success
		permanent  bool
		wantCreate bool
	}{
		{name: "created", wantCreate: true},
		{name: "already exists, ours", existing: []runtime.Object{child(job, PipelineRuns, job)}},
		{name: "already exists, someone else's", existing: []runtime.Object{child(job, PipelineRuns, other)}, wantErr: "PipelineRun ns/nb-build exists and is not controlled by job nb (uid uid-1); its controller is NotebookValidationJob nb (uid uid-other)", permanent: true},
		{name: "already exists, no controller", existing: []runtime.Object{child(job, PipelineRuns, nil)}, wantErr: "its controller is none", permanent: true},
		{name: "API not served", createErr: apierrors.NewNotFound(PipelineRuns.GVR.GroupResource(), ""), wantErr: "install Tekton Pipelines", permanent: true},
		{name: "no kind match", createErr: &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "tekton.dev", Kind: "PipelineRun"}}, wantErr: "install Tekton Pipelines", permanent: true},
		{name: "refused by a webhook", createErr: apierrors.NewBadRequest("admission webhook denied the request: invalid param"), wantErr: "create PipelineRun ns/nb-build: admission webhook denied the request: invalid param", permanent: true},
		{name: "denied by admission", createErr: apierrors.NewForbidden(PipelineRuns.GVR.GroupResource(), "nb-build", errors.New("exceeds the namespace's LimitRange")), wantErr: "LimitRange", permanent: true},
		{name: "invalid", createErr: apierrors.NewInvalid(schema.GroupKind{Group: "tekton.dev", Kind: "PipelineRun"}, "nb-build", field.ErrorList{field.Required(field.NewPath("spec"), "")}), wantErr: `PipelineRun.tekton.dev "nb-build" is invalid: spec: Required value`, permanent: true},
		{name: "RBAC denial is retried", createErr: apierrors.NewForbidden(PipelineRuns.GVR.GroupResource(), "nb-build", errors.New(`User "system:serviceaccount:nbv-system:job-created" cannot create resource "pipelineruns" in API group "tekton.dev" in the namespace "ns"`)), wantErr: "cannot create resource"},
		{name: "namespace terminating is retried", createErr: apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "ns"), wantErr: "not found"},
		{name: "unavailable is retried", createErr: apierrors.NewServiceUnavailable("etcd"), wantErr: "etcd"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake(c.existing...)
			if c.createErr != nil {
				fake.PrependReactor("create", "pipelineruns", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, c.createErr
				})
			}
			err := NewForDynamic(fake).Create(context.Background(), PipelineRuns, job, child(job, PipelineRuns, job))
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Create error = %v, want it to contain %q", err, c.wantErr)
				}
				if got := errors.Is(err, transition.ErrPermanent); got != c.permanent {
					t.Errorf("permanent = %v, want %v (%v)", got, c.permanent, err)
				}
			}
			if c.wantCreate {
				got, err := fake.Resource(PipelineRuns.GVR).Namespace("ns").Get(context.Background(), "nb-build", metav1.GetOptions{})
				if err != nil || !metav1.IsControlledBy(got, job) {
					t.Errorf("child not created under the job: %v %v", got, err)
				}
			}
		})
	}
}

func TestCreateAPIErrorsStayRecognisable(t *testing.T) {
	fake := newFake()
	fake.PrependReactor("create", "builds", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewTooManyRequests("slow down", 3)
	})
	err := NewForDynamic(fake).Create(context.Background(), Builds, testJob(), child(testJob(), Builds, testJob()))
	// The function runtime answers 429 with Retry-After from the API error itself.
	if !apierrors.IsTooManyRequests(err) || errors.Is(err, transition.ErrPermanent) {
		t.Errorf("error %v lost its 429 or became permanent", err)
	}
}

// Recorded names the children of the strategy recorded at start, whatever the spec says now.
func TestRecorded(t *testing.T) {
	cases := []struct {
		name   string
		status *v1alpha1.BuildStatus
		want   string
	}{
		{"tekton", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyTekton, BuildName: "nb-build"}, "pipelineruns nb-build"},
		{"s2i: the Build, then its BuildConfig", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyS2I, BuildName: "nb-build-2"}, "builds,buildconfigs nb-build-2"},
		{"external has no child", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyExternal, BuildName: "x"}, " "},
		{"no name recorded", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyTekton}, " "},
		{"nothing recorded", nil, " "},
	}
	for _, c := range cases {
		j := testJob()
		j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Strategy: v1alpha1.BuildStrategyS2I}
		j.Status.BuildStatus = c.status
		rs, name := Recorded(j)
		var names []string
		for _, r := range rs {
			names = append(names, r.GVR.Resource)
		}
		if got := strings.Join(names, ",") + " " + name; got != c.want {
			t.Errorf("%s: Recorded = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDeleteResult(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string // "" is deleted
	}{
		{"deleted", nil, ""},
		{"already gone", apierrors.NewNotFound(Builds.GVR.GroupResource(), "nb-build"), ""},
		{"not served (404)", apierrors.NewGenericServerResponse(404, "DELETE", Builds.GVR.GroupResource(), "nb-build", "", 0, true), ""},
		{"not served (no match)", &meta.NoResourceMatchError{PartialResource: Builds.GVR}, ""},
		{"forbidden", apierrors.NewForbidden(Builds.GVR.GroupResource(), "nb-build", errors.New("rbac")), "delete Build ns/nb-build: "},
		{"unavailable", apierrors.NewServiceUnavailable("etcd"), "delete Build ns/nb-build: etcd"},
	}
	for _, c := range cases {
		err := DeleteResult(Builds, "ns", "nb-build", c.err)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want deleted", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.err)):
			t.Errorf("%s: %v, want %q wrapping the API error", c.name, err, c.want)
		}
	}
}

func TestDelete(t *testing.T) {
	job := testJob()
	fake := newFake(child(job, PipelineRuns, job), child(job, Builds, job))
	c := NewForDynamic(fake)
	if err := c.Delete(context.Background(), PipelineRuns, "ns", "nb-build"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), PipelineRuns, "ns", "nb-build"); err != nil {
		t.Errorf("second delete: %v, want gone to count as deleted", err)
	}
	if _, err := fake.Resource(PipelineRuns.GVR).Namespace("ns").Get(context.Background(), "nb-build", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("PipelineRun still there: %v", err)
	}
	if _, err := fake.Resource(Builds.GVR).Namespace("ns").Get(context.Background(), "nb-build", metav1.GetOptions{}); err != nil {
		t.Errorf("the Build was deleted too: %v", err)
	}
	for _, a := range fake.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			if p := d.GetDeleteOptions().PropagationPolicy; p == nil || *p != metav1.DeletePropagationBackground {
				t.Errorf("deleted with propagation %v, want Background", p)
			}
		}
	}
}

// A client made from Config counts its requests in the Client's Calls.
func TestConfigCountsRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	}))
	defer srv.Close()
	c, err := New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), Builds, "ns", "nb-build"); !apierrors.IsNotFound(err) {
		t.Fatalf("dynamic get: %v", err)
	}
	cfg := c.Config()
	cfg.GroupVersion = &schema.GroupVersion{Group: "build.openshift.io", Version: "v1"}
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	other, err := rest.RESTClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Get().Namespace("ns").Resource("builds").Name("nb-build").Do(context.Background()).Error(); !apierrors.IsNotFound(err) {
		t.Fatalf("other client's get: %v", err)
	}
	if got := c.Calls(); got != 2 {
		t.Errorf("Calls = %d, want 2 (one per client)", got)
	}
	if NewForDynamic(newFake()).Config() != nil {
		t.Error("a Client over a given dynamic client has a config")
	}
}

// CreateOwned applies the same rules to any client; reading back an existing child can fail.
func TestCreateOwnedGetFails(t *testing.T) {
	job := testJob()
	err := CreateOwned(context.Background(), BuildConfigs, job, "nb-build",
		func(context.Context) error {
			return apierrors.NewAlreadyExists(BuildConfigs.GVR.GroupResource(), "nb-build")
		},
		func(context.Context) (metav1.Object, error) { return nil, apierrors.NewServiceUnavailable("etcd") })
	if err == nil || errors.Is(err, transition.ErrPermanent) || !apierrors.IsServiceUnavailable(err) ||
		!strings.Contains(err.Error(), "create BuildConfig ns/nb-build: it already exists, and reading it failed") {
		t.Errorf("CreateOwned = %v, want a retryable error saying the read failed", err)
	}
}

func TestObservedKind(t *testing.T) {
	for _, c := range []struct {
		kind, apiVersion string
		ok               bool
	}{
		{"PipelineRun", "tekton.dev/v1", true},
		{"Build", "build.openshift.io/v1", true},
		{"PipelineRun", "tekton.dev/v1beta1", false},
		{"BuildConfig", "build.openshift.io/v1", false},
		{"TaskRun", "tekton.dev/v1", false},
		{"Pod", "v1", false},
	} {
		if _, ok := ObservedKind(c.kind, c.apiVersion); ok != c.ok {
			t.Errorf("ObservedKind(%s, %s) = %v, want %v", c.kind, c.apiVersion, ok, c.ok)
		}
	}
}
