package knative

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

func objectFromYAML(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func TestLocalImagesCronJob(t *testing.T) {
	obj := objectFromYAML(t, `
apiVersion: batch/v1
kind: CronJob
metadata: {name: c, namespace: ns}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
          - name: init
            image: ko://example.com/m/cmd/init
          containers:
          - name: main
            image: ko://example.com/m/cmd/main
            env:
            - name: HELPER_IMAGE
              value: ko://example.com/m/cmd/helper
            - name: PLAIN
              value: kept
`)
	refs, err := localImages(obj)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"example.com/m/cmd/helper", "example.com/m/cmd/init", "example.com/m/cmd/main"}
	if strings.Join(refs, ",") != strings.Join(want, ",") {
		t.Errorf("import paths %v, want %v", refs, want)
	}
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec", "jobTemplate", "spec", "template", "spec")
	for _, field := range []string{"initContainers", "containers"} {
		c := spec[field].([]any)[0].(map[string]any)
		if c["imagePullPolicy"] != "Never" {
			t.Errorf("%s: imagePullPolicy %v, want Never", field, c["imagePullPolicy"])
		}
		if !strings.HasPrefix(c["image"].(string), "local.test/") {
			t.Errorf("%s: image %v not local", field, c["image"])
		}
	}
	env := spec["containers"].([]any)[0].(map[string]any)["env"].([]any)
	if got := env[0].(map[string]any)["value"]; got != ociimage.RefFor("example.com/m/cmd/helper") {
		t.Errorf("env HELPER_IMAGE = %v, want %s", got, ociimage.RefFor("example.com/m/cmd/helper"))
	}
	if got := env[1].(map[string]any)["value"]; got != "kept" {
		t.Errorf("env PLAIN = %v, want kept", got)
	}
}

func TestLocalImagesRefusals(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"registry image": {`
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec: {template: {spec: {containers: [{name: app, image: "docker.io/library/busybox:1"}]}}}
`, `"docker.io/library/busybox:1"`},
		"ko inside a value": {`
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {images: "first=ko://example.com/m/cmd/a"}
`, ".data.images"},
		"empty import path": {`
apiVersion: v1
kind: Pod
metadata: {name: p}
spec: {containers: [{name: app, image: "ko://"}]}
`, `"ko://"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := localImages(objectFromYAML(t, tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
