package knative

import (
	"fmt"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// TraefikModule is the module of Serving's ingress, pinned by test/e2e/traefik.
const TraefikModule = "github.com/traefik/traefik/v3"

// TraefikPackage is Traefik's command, built from the module directory itself: Traefik's
// go.mod replaces some dependencies with forks, which only apply where it is the main module.
const TraefikPackage = TraefikModule + "/cmd/traefik"

// TraefikNodePort is where Traefik's public entry point (the NodePort Service default/traefik
// of test/e2e/traefik/traefik.yaml) takes requests at the node's address.
const TraefikNodePort = 31080

// traefikRBAC is the RBAC Traefik's Knative provider docs have an installer apply, in the module.
const traefikRBAC = "docs/content/reference/dynamic-configuration/kubernetes-knative-rbac.yml"

// TraefikManifests reads Traefik's RBAC from its module directory and its Deployment and
// Services from repoRoot's test/e2e/traefik/traefik.yaml, with local images.
func TraefikManifests(repoRoot, moduleDir string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, path := range []string{filepath.Join(moduleDir, traefikRBAC), filepath.Join(repoRoot, "test", "e2e", "traefik", "traefik.yaml")} {
		docs, err := yamldocs.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if _, err := localImages(d.Object); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", path, d.Index, err)
			}
			objs = append(objs, d.Object)
		}
	}
	return objs, nil
}
