package eventsource

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"gopkg.in/yaml.v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	"knative.dev/eventing/pkg/adapter/apiserver"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

const jobLabel = "mlops.mlops.dev/notebookvalidationjob"

// modelKinds are the model objects jobs with spec.modelValidation wait for.
var modelKinds = map[string]bool{"InferenceService": true, "Deployment": true}

// TestRepoManifests checks the invariants of eventsources/ that a cluster would only reveal
// at run time: Resource mode, a Broker sink, the job label selector on child resources, and
// RBAC in the same file granting the source's ServiceAccount get/list/watch on what it watches.
func TestRepoManifests(t *testing.T) {
	manifests, err := LoadDir(filepath.Join("..", "..", "..", "eventsources"))
	if err != nil {
		t.Fatal(err)
	}
	watched := map[string]bool{}
	pings := 0
	for _, m := range manifests {
		for _, src := range m.ApiServerSources {
			t.Run(filepath.Base(m.Path)+"/"+src.Name, func(t *testing.T) {
				if src.Spec.EventMode != sourcesv1.ResourceMode {
					t.Errorf("mode = %q, want %q", src.Spec.EventMode, sourcesv1.ResourceMode)
				}
				checkBrokerSink(t, src.Spec.Sink.Ref)
				sa := src.Spec.ServiceAccountName
				if sa == "" || findObject(m, "ServiceAccount", sa) == nil {
					t.Fatalf("serviceAccountName %q has no ServiceAccount in %s", sa, m.Path)
				}
				for _, r := range src.Spec.Resources {
					watched[r.Kind] = true
					gv, err := schema.ParseGroupVersion(r.APIVersion)
					if err != nil {
						t.Fatal(err)
					}
					plural, _ := meta.UnsafeGuessKindToResource(gv.WithKind(r.Kind))
					if !granted(m, sa, gv.Group, plural.Resource) {
						t.Errorf("ServiceAccount %s is not granted get/list/watch on %s.%s", sa, plural.Resource, gv.Group)
					}
					// Jobs, and the model objects jobs wait for (eventsources/models.yaml),
					// carry no label of ours.
					if r.Kind == "NotebookValidationJob" || modelKinds[r.Kind] {
						continue
					}
					sel := r.LabelSelector
					if sel == nil || len(sel.MatchExpressions) == 0 || sel.MatchExpressions[0].Key != jobLabel ||
						sel.MatchExpressions[0].Operator != metav1.LabelSelectorOpExists {
						t.Errorf("%s selector = %+v, want %s Exists", r.Kind, sel, jobLabel)
						continue
					}
					// Tekton copies a PipelineRun's labels onto its pods: only pods we manage
					// are validation pods.
					want := 1
					if r.Kind == "Pod" {
						want = 2
						if m := sel.MatchExpressions[len(sel.MatchExpressions)-1]; len(sel.MatchExpressions) != 2 ||
							m.Key != "app.kubernetes.io/managed-by" || m.Operator != metav1.LabelSelectorOpIn || fmt.Sprint(m.Values) != "[nbv]" {
							t.Errorf("Pod selector = %+v, want also app.kubernetes.io/managed-by In [nbv]", sel)
						}
					}
					if len(sel.MatchExpressions) != want {
						t.Errorf("%s selector = %+v, want %d expressions", r.Kind, sel, want)
					}
				}
			})
		}
		for _, p := range m.PingSources {
			pings++
			if p.Spec.Schedule != "* * * * *" {
				t.Errorf("PingSource %s schedule = %q, want every minute", p.Name, p.Spec.Schedule)
			}
			checkBrokerSink(t, p.Spec.Sink.Ref)
		}
	}
	for _, kind := range []string{"NotebookValidationJob", "PipelineRun", "Build", "Pod", "InferenceService", "Deployment"} {
		if !watched[kind] {
			t.Errorf("no ApiServerSource watches %s", kind)
		}
	}
	if pings != 1 {
		t.Errorf("want one PingSource, found %d", pings)
	}

	// kubectl apply -k eventsources/ must install exactly what the local stack runs.
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "eventsources", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Namespace string   `json:"namespace"`
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	var loaded []string
	for _, m := range manifests {
		loaded = append(loaded, filepath.Base(m.Path))
	}
	slices.Sort(loaded)
	slices.Sort(k.Resources)
	if !slices.Equal(loaded, k.Resources) || k.Namespace != "nbv-system" {
		t.Errorf("kustomization lists %v in %q; LoadDir loads %v; want the same files in nbv-system", k.Resources, k.Namespace, loaded)
	}
}

func checkBrokerSink(t *testing.T, ref *duckv1.KReference) {
	t.Helper()
	if ref == nil || ref.Kind != "Broker" || ref.Name != "default" || ref.APIVersion != "eventing.knative.dev/v1" {
		t.Errorf("sink ref = %+v, want Broker default (eventing.knative.dev/v1)", ref)
	}
}

func findObject(m *Manifest, kind, name string) *unstructured.Unstructured {
	for _, o := range m.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// granted reports whether a (Cluster)RoleBinding in m binds sa to a role in m allowing
// get, list and watch on group/resource.
func granted(m *Manifest, sa, group, resource string) bool {
	for _, b := range m.Objects {
		if b.GetKind() != "RoleBinding" && b.GetKind() != "ClusterRoleBinding" {
			continue
		}
		subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
		bound := slices.ContainsFunc(subjects, func(s any) bool {
			sm, _ := s.(map[string]any)
			return sm["kind"] == "ServiceAccount" && sm["name"] == sa
		})
		roleKind, _, _ := unstructured.NestedString(b.Object, "roleRef", "kind")
		roleName, _, _ := unstructured.NestedString(b.Object, "roleRef", "name")
		role := findObject(m, roleKind, roleName)
		if !bound || role == nil {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
		verbs := map[string]bool{}
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			if has(rm["apiGroups"], group) && has(rm["resources"], resource) {
				for _, v := range rm["verbs"].([]any) {
					verbs[v.(string)] = true
				}
			}
		}
		if verbs["get"] && verbs["list"] && verbs["watch"] {
			return true
		}
	}
	return false
}

func has(list any, want string) bool {
	items, _ := list.([]any)
	return slices.Contains(items, any(want))
}

func TestLoadFileRejectsUnknownSourceField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.yaml")
	doc := `apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata:
  name: typo
spec:
  mode: Resource
  resources:
  - apiVersion: v1
    kind: Pod
    selectr:
      matchLabels: {a: b}
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	if err == nil || !strings.Contains(err.Error(), "selectr") {
		t.Fatalf("want an error naming the unknown field, got %v", err)
	}
}

func fakeKube(t *testing.T, namespaces ...*corev1.Namespace) *fake.Clientset {
	t.Helper()
	objs := make([]runtime.Object, 0, len(namespaces))
	for _, ns := range namespaces {
		objs = append(objs, ns)
	}
	kube := fake.NewClientset(objs...)
	kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{{Name: "pods", Kind: "Pod", Namespaced: true}}},
		{GroupVersion: "mlops.mlops.dev/v1alpha1", APIResources: []metav1.APIResource{
			{Name: "notebookvalidationjobs", Kind: "NotebookValidationJob", Namespaced: true}}},
	}
	return kube
}

func TestAdapterConfig(t *testing.T) {
	src := &sourcesv1.ApiServerSource{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "team-a"},
		Spec: sourcesv1.ApiServerSourceSpec{
			Resources: []sourcesv1.APIVersionKindSelector{
				{APIVersion: "mlops.mlops.dev/v1alpha1", Kind: "NotebookValidationJob"},
				{APIVersion: "v1", Kind: "Pod", LabelSelector: &metav1.LabelSelector{
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: jobLabel, Operator: metav1.LabelSelectorOpExists}}}},
				// Not served by the fake server: left out, as the adapter would skip it.
				{APIVersion: "tekton.dev/v1", Kind: "PipelineRun"},
			},
		},
	}
	cfg, err := AdapterConfig(context.Background(), fakeKube(t), src, zap.NewNop().Sugar())
	if err != nil {
		t.Fatal(err)
	}
	want := apiserver.Config{
		Namespaces: []string{"team-a"},
		EventMode:  sourcesv1.ReferenceMode,
		Resources: []apiserver.ResourceWatch{
			{GVR: schema.GroupVersionResource{Group: "mlops.mlops.dev", Version: "v1alpha1", Resource: "notebookvalidationjobs"}},
			{GVR: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, LabelSelector: jobLabel},
		},
	}
	got, _ := json.Marshal(cfg)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("config\n got %s\nwant %s", got, wantJSON)
	}
}

func TestAdapterConfigNamespaceSelector(t *testing.T) {
	nsA := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b-team", Labels: map[string]string{"nbv": "on"}}}
	nsB := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a-team", Labels: map[string]string{"nbv": "on"}}}
	nsC := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}}
	kube := fakeKube(t, nsA, nsB, nsC)
	src := &sourcesv1.ApiServerSource{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "home"}}

	src.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"nbv": "on"}}
	cfg, err := AdapterConfig(context.Background(), kube, src, zap.NewNop().Sugar())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Namespaces, []string{"a-team", "b-team"}) || cfg.AllNamespaces {
		t.Errorf("selector: namespaces %v all=%v, want [a-team b-team] sorted", cfg.Namespaces, cfg.AllNamespaces)
	}

	src.Spec.NamespaceSelector = &metav1.LabelSelector{}
	cfg, err = AdapterConfig(context.Background(), kube, src, zap.NewNop().Sugar())
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AllNamespaces || len(cfg.Namespaces) != 0 {
		t.Errorf("empty selector: namespaces %v all=%v, want all namespaces", cfg.Namespaces, cfg.AllNamespaces)
	}
}

func TestNewEnvFillsWhatTheAdapterReads(t *testing.T) {
	src := &sourcesv1.ApiServerSource{ObjectMeta: metav1.ObjectMeta{Name: "jobs", Namespace: "team-a"}}
	env, err := newEnv(src, `{"mode":"Resource"}`, "http://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	if env.GetNamespace() != "team-a" || env.GetSink() != "http://127.0.0.1:1/" || env.GetName() != "jobs" {
		t.Errorf("env namespace=%q sink=%q name=%q", env.GetNamespace(), env.GetSink(), env.GetName())
	}
	// The adapter decodes ConfigJson and reads the outer Name: check both through reflection's
	// twin, JSON, which sees the same exported fields.
	data, _ := json.Marshal(env)
	for _, want := range []string{`"Name":"jobs"`, `"ConfigJson":"{\"mode\":\"Resource\"}"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("env %s lacks %s", data, want)
		}
	}
}
