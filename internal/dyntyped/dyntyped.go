// Package dyntyped serves typed API structs (k8s.io/api, github.com/openshift/api, ...)
// through client-go's dynamic client, converting through JSON (FromUnstructured).
// A generated clientset links client-go's apply configurations, discovery and the scheme of
// every built-in group (about 10 MB per function binary, i.e. cold-start time); the dynamic
// client is one small package that every function needing a few verbs on a few kinds shares.
package dyntyped

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// Client is a typed client of one resource in one namespace. Its methods have the signatures
// of client-go's generated clients, so interfaces over them fit both.
type Client[T metav1.Object] struct {
	Resource dynamic.ResourceInterface
	// New returns an empty object to decode into.
	New func() T
}

// Create creates obj and returns it as stored.
func (c Client[T]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	u, err := ToUnstructured(obj)
	if err != nil {
		return c.New(), fmt.Errorf("convert %T %s: %w", obj, obj.GetName(), err)
	}
	out, err := c.Resource.Create(ctx, &unstructured.Unstructured{Object: u}, opts)
	if err != nil {
		return c.New(), err
	}
	return c.typed(out)
}

// Get reads the object name; a missing one satisfies apierrors.IsNotFound.
func (c Client[T]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	out, err := c.Resource.Get(ctx, name, opts)
	if err != nil {
		return c.New(), err
	}
	return c.typed(out)
}

// Delete deletes the object name.
func (c Client[T]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return c.Resource.Delete(ctx, name, opts)
}

func (c Client[T]) typed(u *unstructured.Unstructured) (T, error) {
	obj := c.New()
	if err := FromUnstructured(u.Object, obj); err != nil {
		return obj, fmt.Errorf("decode %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return obj, nil
}

// List lists r into list, a typed list (such as *coordinationv1.LeaseList).
func List(ctx context.Context, r dynamic.ResourceInterface, opts metav1.ListOptions, list any) error {
	out, err := r.List(ctx, opts)
	if err != nil {
		return err
	}
	if err := FromUnstructured(out.UnstructuredContent(), list); err != nil {
		return fmt.Errorf("decode %s: %w", out.GetKind(), err)
	}
	return nil
}
