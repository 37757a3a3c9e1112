package integration

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/cmdoutput"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/serverapply"
	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// helmTemplate renders charts/nbv with helm (built by make helm) and args.
func helmTemplate(t *testing.T, ctx context.Context, args ...string) ([]yamldocs.Doc, error) {
	t.Helper()
	helm := filepath.Join(controlplane.DefaultBinDir(), "helm")
	cmd := exec.CommandContext(ctx, helm, append([]string{"template", "nbv", filepath.Join(repoRoot, "charts", "nbv"), "--include-crds"}, args...)...)
	out, err := cmdoutput.Stdout(cmd)
	if err != nil {
		return nil, err
	}
	return yamldocs.Parse("helm template", out)
}

// objectKey names an object the way kubectl does: kind, namespace/name.
func objectKey(o *unstructured.Unstructured) string {
	return o.GetAPIVersion() + " " + o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

func objectsByKey(t *testing.T, docs []yamldocs.Doc) map[string]map[string]any {
	t.Helper()
	byKey := map[string]map[string]any{}
	for _, d := range docs {
		if d.Object == nil {
			continue
		}
		key := objectKey(d.Object)
		if _, dup := byKey[key]; dup {
			t.Errorf("%s appears twice", key)
		}
		byKey[key] = d.Object.Object
	}
	return byKey
}

// TestChartInstallsWhatConfigDoes: charts/nbv rendered with its default values (images named
// as config/ names them, one opted-in namespace) gives exactly the objects of `kubectl
// kustomize config`, `kubectl kustomize eventsources` and the per-namespace RoleBindings of
// config/rbac/opt-in and config/rbac/gitops applied in that namespace: same set, same
// content, field by field.
func TestChartInstallsWhatConfigDoes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const ns = "team-a"
	var images []string
	for _, name := range []string{"job-created", "pod-completed", "build-status-changed", "sweep"} {
		images = append(images, "--set-string", "images."+name+"=ko://github.com/mlops-dev/nbv/functions/"+name)
	}
	images = append(images, "--set-string", "images.nbv-runner=ko://github.com/mlops-dev/nbv/cmd/nbv-runner")
	chart, err := helmTemplate(t, ctx, append(images, "--set", "optIn.namespaces={"+ns+"}",
		"--set", "gitops.waveNamespaces={"+ns+"}", "--set", "gitops.triggerNamespaces={"+ns+"}")...)
	if err != nil {
		t.Fatal(err)
	}

	var want []yamldocs.Doc
	kubectl := filepath.Join(controlplane.DefaultBinDir(), "kubectl")
	for _, dir := range []string{"config", "eventsources"} {
		out, err := cmdoutput.Stdout(exec.CommandContext(ctx, kubectl, "kustomize", filepath.Join(repoRoot, dir)))
		if err != nil {
			t.Fatal(err)
		}
		docs, err := yamldocs.Parse("kubectl kustomize "+dir, out)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, docs...)
	}
	for _, rel := range []string{"config/rbac/opt-in/rolebindings.yaml", "config/rbac/gitops/wave.yaml", "config/rbac/gitops/triggers.yaml"} {
		docs, err := yamldocs.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			if d.Object != nil && strings.HasSuffix(d.Object.GetKind(), "Binding") && !strings.HasPrefix(d.Object.GetKind(), "Cluster") {
				d.Object.SetNamespace(ns)
			}
		}
		want = append(want, docs...)
	}

	got, wanted := objectsByKey(t, chart), objectsByKey(t, want)
	for key, obj := range wanted {
		if diff := cmp.Diff(obj, got[key]); diff != "" {
			t.Errorf("%s: chart differs from config (-config +chart):\n%s", key, diff)
		}
	}
	for key := range got {
		if _, ok := wanted[key]; !ok {
			t.Errorf("the chart installs %s, which config/ does not", key)
		}
	}
	if len(wanted) < 40 {
		t.Errorf("config/ rendered only %d objects; the comparison would prove little", len(wanted))
	}
}

// TestChartValuesChangeWhatTheySay renders the chart with the values make test lints it with
// (charts/nbv/ci/lint-values.yaml) and checks each one lands where it should, and nowhere
// else; the result passes a server-side dry run on the real API server; and without an image
// registry the chart refuses to render, saying what to set.
func TestChartValuesChangeWhatTheySay(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	docs, err := helmTemplate(t, ctx, "-f", filepath.Join(repoRoot, "charts", "nbv", "ci", "lint-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := objectsByKey(t, docs)
	env := func(fn string) map[string]string {
		obj := objs["serving.knative.dev/v1 Service nbv-system/"+fn]
		if obj == nil {
			t.Fatalf("no Service %s", fn)
		}
		containers, _, _ := unstructured.NestedSlice(obj, "spec", "template", "spec", "containers")
		vars := map[string]string{}
		for _, e := range containers[0].(map[string]any)["env"].([]any) {
			e := e.(map[string]any)
			v, _ := e["value"].(string)
			vars[e["name"].(string)] = v
		}
		vars["image"] = containers[0].(map[string]any)["image"].(string)
		return vars
	}
	for _, fn := range []string{"job-created", "pod-completed", "build-status-changed", "sweep"} {
		vars := env(fn)
		if got := vars["OTEL_EXPORTER_OTLP_ENDPOINT"]; got != "http://otel-collector.observability:4318" {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT = %q", fn, got)
		}
		if got := vars["NBV_POD_OTLP_ENDPOINT"]; got != "http://otel-collector.observability:4318" {
			t.Errorf("%s: NBV_POD_OTLP_ENDPOINT = %q", fn, got)
		}
		if want := "registry.example.com/nbv/" + fn + ":v0.1.0"; vars["image"] != want {
			t.Errorf("%s: image %q, want %q", fn, vars["image"], want)
		}
		_, hasMax := vars["NBV_SWEEP_MAX_JOBS"]
		if hasMax != (fn == "sweep") {
			t.Errorf("%s: NBV_SWEEP_MAX_JOBS set = %v; only the sweep's env names it", fn, hasMax)
		}
		if runner, ok := vars["NBV_RUNNER_IMAGE"]; ok && runner != "registry.example.com/nbv/nbv-runner:v0.1.0" {
			t.Errorf("%s: NBV_RUNNER_IMAGE = %q", fn, runner)
		}
	}
	if got, _, _ := unstructured.NestedString(objs["v1 ConfigMap nbv-system/nbv-build-images"], "data", "builderImages"); got != "quay.io/buildah/stable:v1.40.1" {
		t.Errorf("builderImages = %q", got)
	}
	for key, want := range map[string]string{"repository": "registry.example.com/nbv-runs", "pushSecret": "nbv-registry-push", "insecure": "true"} {
		if got, _, _ := unstructured.NestedString(objs["v1 ConfigMap nbv-system/nbv-artifacts"], "data", key); got != want {
			t.Errorf("nbv-artifacts %s = %q, want %q", key, got, want)
		}
	}
	for _, key := range []string{
		"rbac.authorization.k8s.io/v1 RoleBinding team-a/nbv-job-created", "rbac.authorization.k8s.io/v1 RoleBinding team-b/nbv-sweep",
		"rbac.authorization.k8s.io/v1 RoleBinding team-a/nbv-gitops-wave", "rbac.authorization.k8s.io/v1 RoleBinding argocd/nbv-gitops-triggers",
	} {
		if objs[key] == nil {
			t.Errorf("no %s", key)
		}
	}
	if objs["rbac.authorization.k8s.io/v1 RoleBinding team-b/nbv-gitops-wave"] != nil {
		t.Error("the wave RoleBinding is in team-b, which gitops.waveNamespaces does not list")
	}

	for _, ns := range []string{"nbv-system", "team-a", "team-b", "argocd"} {
		if err := cp.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	var objects []*unstructured.Unstructured
	for _, d := range docs {
		if d.Object != nil && d.Object.GetKind() != "CustomResourceDefinition" {
			objects = append(objects, d.Object)
		}
	}
	if err := serverapply.Objects(ctx, cp.RESTConfig(), objects, serverapply.Options{FieldManager: "nbv-chart-dry-run", DryRun: true}); err != nil {
		t.Errorf("the rendered chart fails a server-side dry run: %v", err)
	}

	if docs, err := helmTemplate(t, ctx, "--set", "eventSources.enabled=false", "--set", "imageRegistry=r.example/nbv"); err != nil {
		t.Fatal(err)
	} else {
		for _, d := range docs {
			if d.Object != nil && strings.HasPrefix(d.Object.GetAPIVersion(), "sources.knative.dev/") {
				t.Errorf("eventSources.enabled=false still renders %s", objectKey(d.Object))
			}
		}
	}
	_, err = helmTemplate(t, ctx)
	if err == nil || !strings.Contains(err.Error(), "set imageRegistry (or images.") {
		t.Errorf("rendering without an image registry: %v, want a refusal naming imageRegistry", err)
	}
}
