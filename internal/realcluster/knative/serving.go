package knative

import (
	"fmt"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ServingNamespace is where Serving's controller, webhook, activator and autoscaler run.
const ServingNamespace = "knative-serving"

// The modules whose config/ ServingManifests reads, each resolved with controlplane.ModuleDir
// in the module that pins Serving (test/e2e/knative).
const (
	ServingModule    = "knative.dev/serving"
	NetworkingModule = "knative.dev/networking"
	CachingModule    = "knative.dev/caching"
)

// ServingModules are the directories of ServingModule, NetworkingModule and CachingModule.
type ServingModules struct {
	Serving, Networking, Caching string
}

// servingSources are the manifests of Serving's core, as its release's serving-crds.yaml and
// serving-core.yaml are made. Serving's config/core links the networking CRDs, config-network
// and the caching Image CRD from those modules with git symlinks, which module zips leave
// out; reading their own config/ gets the same objects.
func (m ServingModules) servingSources() []string {
	return []string{
		filepath.Join(m.Networking, "config"),
		filepath.Join(m.Caching, "config"),
		filepath.Join(m.Serving, "config", "core"),
	}
}

// IngressClass is the ingress class Traefik's Knative provider implements.
const IngressClass = "traefik.ingress.networking.knative.dev"

// ServingSettings are what an installer sets in Serving's ConfigMaps.
type ServingSettings struct {
	// Domain is the public domain of Knative Services (config-domain): a public Service
	// <name>.<namespace>.<Domain> is routed by the public entry points.
	Domain string
	// SkipTagResolving are registries whose images Serving does not resolve to digests
	// (config-deployment registries-skipping-tag-resolving): images imported into the node
	// without a registry cannot be resolved.
	SkipTagResolving string
	// Autoscaler are config-autoscaler keys, e.g. a short scale-to-zero-grace-period.
	Autoscaler map[string]string
}

// ServingManifests reads Knative Serving's objects from its modules, rewrites them for local
// images as EventingManifests does, and sets what the installer sets (the docs' steps for
// Traefik: config-network's ingress-class, config-domain; then settings). images are the
// import paths to build, including the queue-proxy that config-deployment names.
func ServingManifests(m ServingModules, settings ServingSettings) (objs []*unstructured.Unstructured, images []string, err error) {
	objs, images, err = localManifests(m.servingSources())
	if err != nil {
		return nil, nil, err
	}
	data := map[string]map[string]string{
		"config-network":    {"ingress-class": IngressClass},
		"config-domain":     {settings.Domain: ""},
		"config-deployment": {"registries-skipping-tag-resolving": settings.SkipTagResolving},
		"config-autoscaler": settings.Autoscaler,
	}
	for name, kv := range data {
		if err := SetConfigData(objs, ServingNamespace, name, kv); err != nil {
			return nil, nil, err
		}
	}
	return objs, images, nil
}

// SetConfigData sets keys of the data of ConfigMap namespace/name among objs. A ConfigMap that
// is not there is an error: the setting would silently not apply.
func SetConfigData(objs []*unstructured.Unstructured, namespace, name string, kv map[string]string) error {
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" || o.GetNamespace() != namespace || o.GetName() != name {
			continue
		}
		for k, v := range kv {
			if err := unstructured.SetNestedField(o.Object, v, "data", k); err != nil {
				return fmt.Errorf("ConfigMap %s/%s data %s: %w", namespace, name, k, err)
			}
		}
		return nil
	}
	return fmt.Errorf("no ConfigMap %s/%s among the manifests", namespace, name)
}
