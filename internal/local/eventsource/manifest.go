// Package eventsource runs Knative's own ApiServerSource adapter
// (knative.dev/eventing/pkg/adapter/apiserver) in-process for the manifests in eventsources/,
// so the local stack and the integration tests receive exactly the CloudEvents a cluster's
// ApiServerSource would send: same types, attributes and payloads, over real HTTP. It also
// loads those manifests and applies the RBAC objects that come with them.
package eventsource

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/internal/local/serverapply"
	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// Manifest is one file of eventsources/: its sources and the objects they need (RBAC).
type Manifest struct {
	Path             string
	ApiServerSources []*sourcesv1.ApiServerSource
	PingSources      []*sourcesv1.PingSource
	// Objects are every other document (ServiceAccounts, Roles, RoleBindings...), in file order.
	Objects []*unstructured.Unstructured
}

// LoadFile parses a multi-document YAML manifest. Sources are decoded strictly, so a field the
// Knative API does not know (a typo such as "selectr") is an error instead of being dropped.
func LoadFile(path string) (*Manifest, error) {
	docs, err := yamldocs.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("event source manifest: %w", err)
	}
	m := &Manifest{Path: path}
	for _, d := range docs {
		u := d.Object
		switch u.GroupVersionKind() {
		case sourcesv1.SchemeGroupVersion.WithKind("ApiServerSource"):
			src := &sourcesv1.ApiServerSource{}
			if err := yaml.UnmarshalStrict(d.Raw, src); err != nil {
				return nil, fmt.Errorf("decoding ApiServerSource in %s document %d: %w", path, d.Index, err)
			}
			m.ApiServerSources = append(m.ApiServerSources, src)
		case sourcesv1.SchemeGroupVersion.WithKind("PingSource"):
			src := &sourcesv1.PingSource{}
			if err := yaml.UnmarshalStrict(d.Raw, src); err != nil {
				return nil, fmt.Errorf("decoding PingSource in %s document %d: %w", path, d.Index, err)
			}
			m.PingSources = append(m.PingSources, src)
		default:
			if u.GetKind() == "" || u.GetAPIVersion() == "" {
				return nil, fmt.Errorf("%s document %d has no apiVersion/kind", path, d.Index)
			}
			m.Objects = append(m.Objects, u)
		}
	}
	return m, nil
}

// LoadDir loads every *.yaml file of dir, in name order.
func LoadDir(dir string) ([]*Manifest, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no event source manifests in %s", dir)
	}
	sort.Strings(files)
	out := make([]*Manifest, 0, len(files))
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue // kustomize's index of the manifests, not a manifest
		}
		m, err := LoadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ApplyObjects server-side applies the manifest's non-source objects into namespace: namespaced
// kinds move there, and so do the ServiceAccount subjects of (Cluster)RoleBindings, which the
// manifests bind in nbv-system. Sources themselves are not applied: in-process adapters stand in for them.
func (m *Manifest) ApplyObjects(ctx context.Context, cfg *rest.Config, namespace string) error {
	objs := make([]*unstructured.Unstructured, 0, len(m.Objects))
	for _, orig := range m.Objects {
		obj := orig.DeepCopy()
		if k := obj.GetKind(); k == "RoleBinding" || k == "ClusterRoleBinding" {
			moveSubjectNamespaces(obj, namespace)
		}
		objs = append(objs, obj)
	}
	if err := serverapply.Objects(ctx, cfg, objs, serverapply.Options{FieldManager: "nbv-eventsource", Namespace: namespace}); err != nil {
		return fmt.Errorf("%s: %w", m.Path, err)
	}
	return nil
}

func moveSubjectNamespaces(obj *unstructured.Unstructured, namespace string) {
	subjects, _, _ := unstructured.NestedSlice(obj.Object, "subjects")
	for _, s := range subjects {
		if sm, ok := s.(map[string]any); ok && sm["kind"] == "ServiceAccount" {
			sm["namespace"] = namespace
		}
	}
	_ = unstructured.SetNestedSlice(obj.Object, subjects, "subjects")
}
