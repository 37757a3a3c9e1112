package modelready

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

var models = schema.GroupVersionResource{Group: "models.example.com", Version: "v2", Resource: "models"}

// reader serves the given resources, holding objs, and answers gets of forbidden with 403.
func reader(t *testing.T, served []schema.GroupVersionResource, forbidden string, objs ...runtime.Object) *Reader {
	t.Helper()
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	for _, gvr := range served {
		disc.Resources = append(disc.Resources, &metav1.APIResourceList{GroupVersion: gvr.GroupVersion().String(),
			APIResources: []metav1.APIResource{{Name: gvr.Resource, Namespaced: true}}})
	}
	dyn := fakedynamic.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		InferenceServices: "InferenceServiceList", Deployments: "DeploymentList", models: "ModelList"}, objs...)
	if forbidden != "" {
		dyn.PrependReactor("get", forbidden, func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: forbidden}, "x", fmt.Errorf("RBAC"))
		})
	}
	return &Reader{Dynamic: dyn, Discovery: fakeDiscovery{disc}}
}

// fakeDiscovery answers Discovery from client-go's fake discovery client.
type fakeDiscovery struct{ *fakediscovery.FakeDiscovery }

func (f fakeDiscovery) ResourcesFor(_ context.Context, gv string) (*metav1.APIResourceList, error) {
	return f.ServerResourcesForGroupVersion(gv)
}

func (f fakeDiscovery) Groups(context.Context) (*metav1.APIGroupList, error) { return f.ServerGroups() }

func modelJob(platform string, targets ...string) *v1alpha1.NotebookValidationJob {
	on := true
	return &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "ns"},
		Spec: v1alpha1.NotebookValidationJobSpec{ModelValidation: &v1alpha1.ModelValidationSpec{
			Enabled: &on, Platform: platform, TargetModels: targets}}}
}

func customModel(name, ready string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": models.GroupVersion().String(), "kind": "Model",
		"metadata": map[string]any{"name": name, "namespace": "ns"},
		"status":   map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": ready}}}}}
}

func TestCheck(t *testing.T) {
	custom := func(targets ...string) *v1alpha1.NotebookValidationJob {
		j := modelJob("custom", targets...)
		j.Spec.ModelValidation.CustomPlatform = &v1alpha1.CustomPlatformSpec{APIGroup: models.Group, ResourceType: "Models"}
		return j
	}
	cases := []struct {
		name      string
		r         *Reader
		job       *v1alpha1.NotebookValidationJob
		waiting   []string
		detected  bool
		success   bool
		inMessage string
	}{
		{"kserve not installed", reader(t, nil, ""), modelJob("kserve", "iris"), nil, false, false, "inferenceservices.serving.kserve.io is not served"},
		{"kserve, model absent", reader(t, []schema.GroupVersionResource{InferenceServices}, ""), modelJob("kserve", "iris"), []string{"ns/iris"}, true, false, "ns/iris (inferenceservices.serving.kserve.io not found)"},
		{"kserve, may not read", reader(t, []schema.GroupVersionResource{InferenceServices}, "inferenceservices"), modelJob("kserve", "iris"), nil, true, false, "may not read inferenceservices.serving.kserve.io"},
		{"custom, preferred version, ready", reader(t, []schema.GroupVersionResource{models}, "", customModel("fraud", "True")), custom("fraud"), nil, true, true, "All 1 model(s) are ready"},
		{"custom, not ready", reader(t, []schema.GroupVersionResource{models}, "", customModel("fraud", "False")), custom("fraud"), []string{"ns/fraud"}, true, false, "Model Ready condition is False"},
		{"custom without its resource", reader(t, nil, ""), modelJob("custom", "fraud"), nil, false, false, "needs customPlatform.apiGroup"},
		{"another namespace", reader(t, []schema.GroupVersionResource{InferenceServices}, ""), modelJob("kserve", "iris", "other/fraud"), nil, true, false, "cross-namespace model access is not allowed"},
		{"seldon detected, not read", reader(t, []schema.GroupVersionResource{{Group: "machinelearning.seldon.io", Version: "v1", Resource: "seldondeployments"}}, ""), modelJob("seldon", "fraud"), nil, true, true, "not read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check, err := tc.r.Check(context.Background(), tc.job)
			if err != nil {
				t.Fatal(err)
			}
			r := check.Result
			if fmt.Sprint(check.Waiting) != fmt.Sprint(tc.waiting) || r.PlatformDetected != tc.detected || r.Success != tc.success || !strings.Contains(r.Message, tc.inMessage) {
				t.Errorf("waiting %v detected %v success %v message %q; want %v %v %v containing %q",
					check.Waiting, r.PlatformDetected, r.Success, r.Message, tc.waiting, tc.detected, tc.success, tc.inMessage)
			}
			if len(check.Waiting) > 0 && !strings.Contains(check.Message, check.Waiting[0]) {
				t.Errorf("waiting message %q does not name %s", check.Message, check.Waiting[0])
			}
		})
	}
}
