package knative

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/cmdoutput"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

func TestFunctionManifests(t *testing.T) {
	root := repoRoot(t)
	objs, images, err := FunctionManifests(root)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byKey[o.GetKind()+" "+objectName(o)] = o
		data, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "ko://") {
			t.Errorf("%s %s still holds a ko:// reference", o.GetKind(), objectName(o))
		}
		if strings.Contains(string(data), "serving.knative.dev/v1") {
			t.Errorf("%s %s still refers to Knative Serving", o.GetKind(), objectName(o))
		}
	}
	// Every Knative Service is now a Deployment and a Service, pulling local images only.
	var functions []string
	for _, d := range servicesYAML(t) {
		key := objectName(d.Object)
		functions = append(functions, d.Object.GetName())
		deploy, svc := byKey["Deployment "+key], byKey["Service "+key]
		if deploy == nil || svc == nil {
			t.Errorf("Knative Service %s: Deployment %v, Service %v; want both", key, deploy != nil, svc != nil)
			continue
		}
		_ = eachContainer(deploy, func(_ string, c map[string]any) error {
			if c["imagePullPolicy"] != "Never" || !strings.HasPrefix(c["image"].(string), "local.test/") {
				t.Errorf("Deployment %s: image %v pull %v, want a local image pulled Never", key, c["image"], c["imagePullPolicy"])
			}
			return nil
		})
	}
	// The Triggers deliver to those Services.
	triggers := 0
	for _, o := range objs {
		if o.GetKind() != "Trigger" {
			continue
		}
		triggers++
		ref, _, _ := unstructured.NestedStringMap(o.Object, "spec", "subscriber", "ref")
		if ref["apiVersion"] != "v1" || ref["kind"] != "Service" || !slices.Contains(functions, ref["name"]) {
			t.Errorf("Trigger %s subscriber %v, want a v1 Service of a function", objectName(o), ref)
		}
		if byKey["Service "+o.GetNamespace()+"/"+ref["name"]] == nil {
			t.Errorf("Trigger %s subscriber %s is not installed", objectName(o), ref["name"])
		}
	}
	if triggers == 0 {
		t.Error("no Trigger")
	}
	// eventsources/kustomization.yaml puts its namespaced objects in nbv-system.
	for _, o := range objs {
		if (o.GetKind() == "ApiServerSource" || o.GetKind() == "PingSource") && o.GetNamespace() != "nbv-system" {
			t.Errorf("%s %s in namespace %q, want nbv-system", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	// The images: one per function, and nbv-runner, which NBV_RUNNER_IMAGE names; each a
	// command of this module.
	if !slices.Contains(images, "github.com/mlops-dev/nbv/cmd/nbv-runner") {
		t.Errorf("images %v lack nbv-runner", images)
	}
	runner := byKey["Deployment nbv-system/job-created"]
	if runner != nil {
		data, _ := json.Marshal(runner.Object)
		if !strings.Contains(string(data), `"value":"`+ociimage.RefFor("github.com/mlops-dev/nbv/cmd/nbv-runner")+`"`) {
			t.Errorf("job-created's NBV_RUNNER_IMAGE is not the local nbv-runner image")
		}
	}
	if len(images) != len(functions)+1 {
		t.Errorf("images %v, want the %d functions and nbv-runner", images, len(functions))
	}
	cmd := exec.Command("go", append([]string{"list", "-f", "{{.Name}}"}, images...)...)
	cmd.Dir = root
	out, err := cmdoutput.Stdout(cmd)
	if err != nil || strings.Trim(strings.ReplaceAll(string(out), "main\n", ""), "\n") != "" {
		t.Errorf("go list %v: %v\n%s (want every one a main package)", images, err, out)
	}
}

// TestFunctionManifestsRefuses checks that what this package cannot apply faithfully stops it.
func TestFunctionManifestsRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"kustomize transformer": {map[string]string{
			"config/kustomization.yaml":       "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml]\nimages: [{name: a, newName: b}]\n",
			"config/cm.yaml":                  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n",
			"eventsources/kustomization.yaml": "resources: []\n",
		}, "images"},
		"subscriber to a Knative Service not in config": {map[string]string{
			"config/kustomization.yaml": "resources: [trigger.yaml]\n",
			"config/trigger.yaml": `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t, namespace: team-a}
spec:
  broker: default
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: elsewhere}}
`,
			"eventsources/kustomization.yaml": "resources: []\n",
		}, "team-a/elsewhere"},
		"missing resource": {map[string]string{
			"config/kustomization.yaml":       "resources: [gone.yaml]\n",
			"eventsources/kustomization.yaml": "resources: []\n",
		}, "gone.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			for path, content := range tc.files {
				full := filepath.Join(root, path)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := FunctionManifests(root); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
