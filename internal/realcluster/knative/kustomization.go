package knative

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// kustomization is the part of a kustomization.yaml this project's config/ and eventsources/
// use. Decoded strictly: a transformer this package does not apply (patches, images, ...) is
// an error, not silently skipped.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
}

// clusterScoped are the cluster-scoped kinds config/ and eventsources/ hold; a kustomization's
// namespace is set on every other object, as kustomize does.
var clusterScoped = map[string]bool{
	"Namespace":                true,
	"CustomResourceDefinition": true,
	"ClusterRole":              true,
	"ClusterRoleBinding":       true,

	"MutatingAdmissionPolicy":          true,
	"MutatingAdmissionPolicyBinding":   true,
	"ValidatingAdmissionPolicy":        true,
	"ValidatingAdmissionPolicyBinding": true,
}

// manifestDoc is one document of a manifest file.
type manifestDoc struct {
	// where names the file and the document, for messages.
	where string
	raw   []byte
	obj   *unstructured.Unstructured
}

// readKustomization returns the documents of dir's kustomization.yaml resources, in its
// order, with its namespace set on namespaced objects. A resource that is not a file is an
// error.
func readKustomization(dir string) ([]manifestDoc, error) {
	path := filepath.Join(dir, "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kustomization: %w", err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []manifestDoc
	for _, r := range k.Resources {
		file := filepath.Join(dir, r)
		if fi, err := os.Stat(file); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("%s: resource %s is not a manifest file", path, r)
		}
		docs, err := yamldocs.ReadFile(file)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if k.Namespace != "" && !clusterScoped[d.Object.GetKind()] {
				d.Object.SetNamespace(k.Namespace)
			}
			out = append(out, manifestDoc{where: fmt.Sprintf("%s document %d", file, d.Index), raw: d.Raw, obj: d.Object})
		}
	}
	return out, nil
}
