package knative

import (
	"fmt"
	"path/filepath"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// RegistryPackage is the registry's command (CNCF Distribution v3), built in the module that
// pins it for the local stack too (hack/tools/registry).
const RegistryPackage = "github.com/distribution/distribution/v3/cmd/registry"

// RegistryNamespace is where the registry runs.
const RegistryNamespace = "nbv-registry"

// RegistryNodePort is where the registry (the NodePort Service nbv-registry/registry of
// test/e2e/registry/registry.yaml) takes requests at the node's address: from the host, the
// node's containerd and pods alike.
const RegistryNodePort = 30500

// RegistryManifests reads the registry's objects from repoRoot's test/e2e/registry/registry.yaml,
// with local images; its one image is RegistryPackage.
func RegistryManifests(repoRoot string) ([]*unstructured.Unstructured, error) {
	path := filepath.Join(repoRoot, "test", "e2e", "registry", "registry.yaml")
	objs, images, err := localManifests([]string{path})
	if err != nil {
		return nil, err
	}
	if !slices.Equal(images, []string{RegistryPackage}) {
		return nil, fmt.Errorf("%s: images %q, want only %s", path, images, RegistryPackage)
	}
	return objs, nil
}
