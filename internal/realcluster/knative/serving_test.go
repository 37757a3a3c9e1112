package knative

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

// servingModules are the module directories test/e2e/knative pins.
func servingModules(t *testing.T) ServingModules {
	t.Helper()
	pin := filepath.Join(repoRoot(t), "test", "e2e", "knative")
	var m ServingModules
	for _, p := range []struct {
		module string
		dir    *string
	}{{ServingModule, &m.Serving}, {NetworkingModule, &m.Networking}, {CachingModule, &m.Caching}} {
		dir, err := controlplane.ModuleDir(context.Background(), pin, p.module, "")
		if err != nil {
			t.Fatal(err)
		}
		*p.dir = dir
	}
	return m
}

var testServingSettings = ServingSettings{
	Domain:           "nbv.test",
	SkipTagResolving: "local.test",
	Autoscaler:       map[string]string{"scale-to-zero-grace-period": "6s"},
}

func servingObjects(t *testing.T) ([]*unstructured.Unstructured, []string) {
	t.Helper()
	objs, images, err := ServingManifests(servingModules(t), testServingSettings)
	if err != nil {
		t.Fatal(err)
	}
	return objs, images
}

func traefikObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	dir, err := controlplane.ModuleDir(context.Background(), filepath.Join(repoRoot(t), "test", "e2e", "traefik"), TraefikModule, "")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := TraefikManifests(repoRoot(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestServingManifests: Serving's core with the networking and caching CRDs its release
// bundles, every image local (the queue-proxy too, which config-deployment names and Serving
// injects into every revision), and the installer's settings in its ConfigMaps.
func TestServingManifests(t *testing.T) {
	objs, images := servingObjects(t)
	crds := map[string]bool{}
	data := map[string]map[string]any{}
	for _, o := range objs {
		localJSON(t, o)
		switch o.GetKind() {
		case "CustomResourceDefinition":
			crds[o.GetName()] = true
		case "ConfigMap":
			d, _, _ := unstructured.NestedMap(o.Object, "data")
			data[o.GetName()] = d
		}
	}
	for _, crd := range []string{"services.serving.knative.dev", "ingresses.networking.internal.knative.dev",
		"serverlessservices.networking.internal.knative.dev", "images.caching.internal.knative.dev"} {
		if !crds[crd] {
			t.Errorf("no CRD %s", crd)
		}
	}
	for _, cmd := range []string{"activator", "autoscaler", "controller", "queue", "webhook"} {
		if !slices.Contains(images, "knative.dev/serving/cmd/"+cmd) {
			t.Errorf("images %v lack Serving's %s", images, cmd)
		}
	}
	for cm, want := range map[string]map[string]string{
		"config-network":    {"ingress-class": IngressClass},
		"config-domain":     {"nbv.test": ""},
		"config-deployment": {"registries-skipping-tag-resolving": "local.test", "queue-sidecar-image": ociimage.RefFor("knative.dev/serving/cmd/queue")},
		"config-autoscaler": {"scale-to-zero-grace-period": "6s"},
	} {
		for k, v := range want {
			if got, ok := data[cm][k]; !ok || got != v {
				t.Errorf("ConfigMap %s %s = %v, want %q", cm, k, got, v)
			}
		}
	}
	if _, _, err := ServingManifests(ServingModules{Serving: t.TempDir(), Networking: t.TempDir(), Caching: t.TempDir()}, testServingSettings); err == nil {
		t.Error("ServingManifests of empty modules: nil error")
	}
}

// TestTraefikManifests: the docs' RBAC binds the ServiceAccount the Deployment runs as, and the
// image is the local build of the pinned module's command.
func TestTraefikManifests(t *testing.T) {
	objs := traefikObjects(t)
	var bound, runsAs, image string
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRoleBinding":
			subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
			for _, s := range subjects {
				m := s.(map[string]any)
				bound = m["namespace"].(string) + "/" + m["name"].(string)
			}
		case "Deployment":
			sa, _, _ := unstructured.NestedString(o.Object, "spec", "template", "spec", "serviceAccountName")
			runsAs = o.GetNamespace() + "/" + sa
			_ = eachContainer(o, func(_ string, c map[string]any) error {
				image, _ = c["image"].(string)
				return nil
			})
		}
	}
	if bound == "" || bound != runsAs {
		t.Errorf("RBAC binds %q, Traefik runs as %q", bound, runsAs)
	}
	if image != ociimage.RefFor(TraefikPackage) {
		t.Errorf("Traefik image %q, want %q", image, ociimage.RefFor(TraefikPackage))
	}
}
