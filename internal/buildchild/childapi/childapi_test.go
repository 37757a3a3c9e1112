package childapi

import (
	"context"
	"errors"
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
		{name: "already exists, someone else's", existing: []runtime.Object{child(job, PipelineRuns, other)}, wantErr: "not controlled by this job", permanent: true},
		{name: "already exists, no controller", existing: []runtime.Object{child(job, PipelineRuns, nil)}, wantErr: "found controller none", permanent: true},
		{name: "API not served", createErr: apierrors.NewNotFound(PipelineRuns.GVR.GroupResource(), ""), wantErr: "install Tekton Pipelines", permanent: true},
		{name: "no kind match", createErr: &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "tekton.dev", Kind: "PipelineRun"}}, wantErr: "install Tekton Pipelines", permanent: true},
		{name: "refused by admission", createErr: apierrors.NewBadRequest("admission webhook denied the request: invalid param"), wantErr: "refused as invalid", permanent: true},
		{name: "invalid", createErr: apierrors.NewInvalid(schema.GroupKind{Group: "tekton.dev", Kind: "PipelineRun"}, "nb-build", field.ErrorList{field.Required(field.NewPath("spec"), "")}), wantErr: "refused as invalid", permanent: true},
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

func TestDeleteBuild(t *testing.T) {
	job := testJob()
	cases := []struct {
		name     string
		status   *v1alpha1.BuildStatus
		existing []runtime.Object
		deleted  []string
	}{
		{"tekton", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyTekton, BuildName: "nb-build"},
			[]runtime.Object{child(job, PipelineRuns, job), child(job, Builds, job)}, []string{"pipelineruns"}},
		{"s2i", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyS2I, BuildName: "nb-build"},
			[]runtime.Object{child(job, Builds, job), child(job, BuildConfigs, job)}, []string{"builds", "buildconfigs"}},
		{"already gone", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyS2I, BuildName: "nb-build"}, nil, []string{"builds", "buildconfigs"}},
		{"external has no child", &v1alpha1.BuildStatus{Strategy: v1alpha1.BuildStrategyExternal}, nil, nil},
		{"nothing recorded", nil, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := job.DeepCopy()
			j.Status.BuildStatus = c.status
			fake := newFake(c.existing...)
			if err := NewForDynamic(fake).DeleteBuild(context.Background(), j); err != nil {
				t.Fatalf("DeleteBuild: %v", err)
			}
			var deleted []string
			for _, a := range fake.Actions() {
				if d, ok := a.(k8stesting.DeleteAction); ok {
					deleted = append(deleted, d.GetResource().Resource)
					if d.GetName() != "nb-build" {
						t.Errorf("deleted %s, want the recorded build name", d.GetName())
					}
				}
			}
			if strings.Join(deleted, ",") != strings.Join(c.deleted, ",") {
				t.Errorf("deleted %v, want %v", deleted, c.deleted)
			}
			for _, o := range c.existing {
				u := o.(*unstructured.Unstructured)
				r := map[string]Resource{"PipelineRun": PipelineRuns, "Build": Builds, "BuildConfig": BuildConfigs}[u.GetKind()]
				_, err := fake.Resource(r.GVR).Namespace("ns").Get(context.Background(), u.GetName(), metav1.GetOptions{})
				if wantGone := strings.Contains(strings.Join(c.deleted, ","), r.GVR.Resource); wantGone != apierrors.IsNotFound(err) {
					t.Errorf("%s: gone = %v, want %v", u.GetKind(), apierrors.IsNotFound(err), wantGone)
				}
			}
		})
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
