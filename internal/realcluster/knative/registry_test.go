package knative

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

// TestRegistryManifestsServeAtTheNodePort: the Service's node port is the one the node's
// containerd and the tests are told, and the Deployment runs the local registry image.
func TestRegistryManifestsServeAtTheNodePort(t *testing.T) {
	objs, err := RegistryManifests(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	var nodePort any
	var image string
	for _, o := range objs {
		switch o.GetKind() {
		case "Service":
			ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			nodePort = ports[0].(map[string]any)["nodePort"]
		case "Deployment":
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			image, _, _ = unstructured.NestedString(containers[0].(map[string]any), "image")
		}
	}
	if fmt.Sprint(nodePort) != fmt.Sprint(RegistryNodePort) {
		t.Errorf("Service node port %v, want RegistryNodePort %d", nodePort, RegistryNodePort)
	}
	if want := ociimage.RefFor(RegistryPackage); image != want {
		t.Errorf("registry image %q, want %q", image, want)
	}
}
