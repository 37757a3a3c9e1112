package knative

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/cmdoutput"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := controlplane.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// eventingModuleDir is the module directory test/e2e/knative pins.
func eventingModuleDir(t *testing.T) string {
	t.Helper()
	dir, err := controlplane.ModuleDir(context.Background(), filepath.Join(repoRoot(t), "test", "e2e", "knative"), EventingModule, "")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func eventingObjects(t *testing.T) ([]*unstructured.Unstructured, []string) {
	t.Helper()
	objs, images, err := EventingManifests(eventingModuleDir(t))
	if err != nil {
		t.Fatal(err)
	}
	return objs, images
}

// localJSON is o as JSON, failing the test where a ko:// reference is left in it.
func localJSON(t *testing.T, o *unstructured.Unstructured) []byte {
	t.Helper()
	data, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "ko://") {
		t.Errorf("%s %s still holds a ko:// reference", o.GetKind(), objectName(o))
	}
	return data
}

func TestEventingManifestsAreLocal(t *testing.T) {
	objs, images := eventingObjects(t)
	used := map[string]bool{} // every local ref any string of any object holds
	for _, o := range objs {
		data := localJSON(t, o)
		for _, img := range images {
			if strings.Contains(string(data), `"`+ociimage.RefFor(img)+`"`) {
				used[img] = true
			}
		}
		err := eachContainer(o, func(field string, c map[string]any) error {
			if c["imagePullPolicy"] != "Never" {
				t.Errorf("%s %s %s %v: imagePullPolicy %v, want Never", o.GetKind(), objectName(o), field, c["name"], c["imagePullPolicy"])
			}
			image, _ := c["image"].(string)
			if !slices.ContainsFunc(images, func(p string) bool { return ociimage.RefFor(p) == image }) {
				t.Errorf("%s %s %s %v: image %q is not one of the returned import paths' refs", o.GetKind(), objectName(o), field, c["name"], image)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
	for _, img := range images {
		if !used[img] {
			t.Errorf("import path %s is returned but no object references its image", img)
		}
	}
	// Referenced only from the controllers' env, for the Deployments they create.
	for _, p := range []string{
		"knative.dev/eventing/cmd/apiserver_receive_adapter",
		"knative.dev/eventing/cmd/in_memory/channel_dispatcher",
	} {
		if !slices.Contains(images, p) {
			t.Errorf("images %v lack %s", images, p)
		}
	}
}

// TestEventingImagesBuild checks that every returned import path is a main package of the
// module test/e2e/knative pins, so that `go build` there makes each image's binary.
func TestEventingImagesBuild(t *testing.T) {
	_, images := eventingObjects(t)
	cmd := exec.Command("go", append([]string{"list", "-f", "{{.ImportPath}} {{.Name}}"}, images...)...)
	cmd.Dir = filepath.Join(repoRoot(t), "test", "e2e", "knative")
	out, err := cmdoutput.Stdout(cmd)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, name, _ := strings.Cut(line, " "); name != "main" {
			t.Errorf("%s is package %s, not a command", path, name)
		}
	}
}

// TestEventingManifestsComplete checks what the pods of Eventing need is installed with them:
// every ConfigMap and Secret a container reads and every ServiceAccount a pod runs as.
func TestEventingManifestsComplete(t *testing.T) {
	objs, _ := eventingObjects(t)
	have := map[string]bool{}
	for _, o := range objs {
		key := o.GetKind() + " " + objectName(o)
		if have[key] {
			t.Errorf("%s defined twice", key)
		}
		have[key] = true
	}
	for _, o := range objs {
		specPath, ok := podSpecPaths[o.GetKind()]
		if !ok {
			continue
		}
		ns := o.GetNamespace()
		if sa, _, _ := unstructured.NestedString(o.Object, append(specPath, "serviceAccountName")...); sa != "" && !have["ServiceAccount "+ns+"/"+sa] {
			t.Errorf("%s %s runs as ServiceAccount %s, which is not installed", o.GetKind(), objectName(o), sa)
		}
		_ = eachContainer(o, func(_ string, c map[string]any) error {
			env, _ := c["env"].([]any)
			for _, e := range env {
				from, _, _ := unstructured.NestedMap(e.(map[string]any), "valueFrom")
				for kind, field := range map[string]string{"ConfigMap": "configMapKeyRef", "Secret": "secretKeyRef"} {
					ref, ok := from[field].(map[string]any)
					if !ok || ref["optional"] == true {
						continue
					}
					if name := ref["name"].(string); !have[kind+" "+ns+"/"+name] {
						t.Errorf("%s %s env %v reads %s %s, which is not installed", o.GetKind(), objectName(o), e.(map[string]any)["name"], kind, name)
					}
				}
			}
			return nil
		})
	}
	for _, want := range []string{
		"Namespace " + EventingNamespace,
		"Deployment " + EventingNamespace + "/eventing-webhook",
		"Deployment " + EventingNamespace + "/mt-broker-ingress",
		"Deployment " + EventingNamespace + "/imc-dispatcher",
		"CustomResourceDefinition apiserversources.sources.knative.dev",
		"CustomResourceDefinition inmemorychannels.messaging.knative.dev",
		"ConfigMap " + EventingNamespace + "/config-br-defaults",
		"MutatingWebhookConfiguration " + DefaultingWebhook,
	} {
		if !have[want] {
			t.Errorf("no %s among Eventing's objects", want)
		}
	}
}

func TestEventingManifestsMissingDir(t *testing.T) {
	_, _, err := EventingManifests(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "config/core") {
		t.Errorf("error %v, want one naming config/core", err)
	}
}
