// Package serverapply server-side applies manifest objects (RBAC, namespaces) to an API
// server, the way `kubectl apply --server-side` does, resolving each kind through discovery.
package serverapply

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Options configure Objects.
type Options struct {
	// FieldManager owns the applied fields.
	FieldManager string
	// Namespace, when set, is where namespaced objects go, whatever their manifest says.
	// Empty keeps each object's own namespace.
	Namespace string
	// DefaultNamespace is where namespaced objects that name no namespace go (kubectl's -n).
	DefaultNamespace string
	// DryRun has the API server validate and admit each object without persisting it
	// (dryRun=All), as `kubectl apply --server-side --dry-run=server` does.
	DryRun bool
}

// Objects applies objs in order, taking ownership of conflicting fields. objs are not modified.
func Objects(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured, opts Options) error {
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	force := true
	for _, orig := range objs {
		obj := orig.DeepCopy()
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("mapping %s: %w", gvk, err)
		}
		res := client.Resource(mapping.Resource)
		var ri dynamic.ResourceInterface = res
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			if opts.Namespace != "" {
				obj.SetNamespace(opts.Namespace)
			}
			if obj.GetNamespace() == "" {
				obj.SetNamespace(opts.DefaultNamespace)
			}
			if obj.GetNamespace() == "" {
				return fmt.Errorf("%s %s is namespaced but names no namespace", gvk.Kind, obj.GetName())
			}
			ri = res.Namespace(obj.GetNamespace())
		}
		data, err := json.Marshal(obj.Object)
		if err != nil {
			return fmt.Errorf("encoding %s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		// Strict, as kubectl's default --validate=strict: a misspelled field is refused, not dropped.
		po := metav1.PatchOptions{FieldManager: opts.FieldManager, Force: &force, FieldValidation: "Strict"}
		if opts.DryRun {
			po.DryRun = []string{metav1.DryRunAll}
		}
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, po); err != nil {
			return fmt.Errorf("applying %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return nil
}
