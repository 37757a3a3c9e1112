package knative

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/cmdoutput"
	"github.com/mlops-dev/nbv/internal/local/yamldocs"

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
	}
	// Every Knative Service is installed as written, but for local images pulled Never.
	var functions []string
	for _, d := range servicesYAML(t) {
		key := objectName(d.Object)
		functions = append(functions, d.Object.GetName())
		ksvc := byKey["Service "+key]
		if ksvc == nil || !isKnativeService(ksvc.GetAPIVersion(), ksvc.GetKind()) {
			t.Errorf("Knative Service %s is not installed as one", key)
			continue
		}
		want := d.Object.DeepCopy()
		want.SetNamespace(ksvc.GetNamespace())
		if _, err := localImages(want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(want.Object, ksvc.Object) {
			t.Errorf("Knative Service %s differs from config/functions beyond its local images", key)
		}
		_ = eachContainer(ksvc, func(_ string, c map[string]any) error {
			if c["imagePullPolicy"] != "Never" || !strings.HasPrefix(c["image"].(string), "local.test/") {
				t.Errorf("Knative Service %s: image %v pull %v, want a local image pulled Never", key, c["image"], c["imagePullPolicy"])
			}
			return nil
		})
	}
	// The Triggers deliver to those Knative Services.
	triggers := 0
	for _, o := range objs {
		if o.GetKind() != "Trigger" {
			continue
		}
		triggers++
		ref, _, _ := unstructured.NestedStringMap(o.Object, "spec", "subscriber", "ref")
		if ref["apiVersion"] != "serving.knative.dev/v1" || ref["kind"] != "Service" || !slices.Contains(functions, ref["name"]) {
			t.Errorf("Trigger %s subscriber %v, want the Knative Service of a function", objectName(o), ref)
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
	runner := byKey["Service nbv-system/job-created"]
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
		"a container image nothing builds": {map[string]string{
			"config/kustomization.yaml":       "resources: [ksvc.yaml]\n",
			"config/ksvc.yaml":                "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: f, namespace: n}\nspec: {template: {spec: {containers: [{image: docker.io/library/busybox}]}}}\n",
			"eventsources/kustomization.yaml": "resources: []\n",
		}, "docker.io/library/busybox"},
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

// servicesYAML are the Knative Services of config/functions/services.yaml, as written.
func servicesYAML(t *testing.T) []yamldocs.Doc {
	t.Helper()
	docs, err := yamldocs.ReadFile(filepath.Join(repoRoot(t), "config", "functions", "services.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []yamldocs.Doc
	for _, d := range docs {
		if isKnativeService(d.Object.GetAPIVersion(), d.Object.GetKind()) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatal("no Knative Service in config/functions/services.yaml")
	}
	return out
}
