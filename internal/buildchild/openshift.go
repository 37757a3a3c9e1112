package buildchild

import (
	"context"
	"fmt"

	buildv1 "github.com/openshift/api/build/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
)

// typedClient is what build children need of a typed client of one kind in one namespace.
// OpenShift's generated clients (github.com/openshift/client-go) have these methods too, so
// tests can stand theirs (and its fake) in for dynamicTyped.
type typedClient[T metav1.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// OpenShiftBuilds serves BuildConfigs and Builds as OpenShift's typed structs.
type OpenShiftBuilds interface {
	BuildConfigs(namespace string) typedClient[*buildv1.BuildConfig]
	Builds(namespace string) typedClient[*buildv1.Build]
}

// dynamicOpenShift serves OpenShiftBuilds through the dynamic client. OpenShift's generated
// clientset links client-go's apply configurations and discovery (about 10 MB per binary);
// the structs convert to and from unstructured objects instead.
type dynamicOpenShift struct{ api *childapi.Client }

func (d dynamicOpenShift) BuildConfigs(namespace string) typedClient[*buildv1.BuildConfig] {
	return dynamicTyped[*buildv1.BuildConfig]{c: d.api.Resource(childapi.BuildConfigs, namespace), new: func() *buildv1.BuildConfig { return &buildv1.BuildConfig{} }}
}

func (d dynamicOpenShift) Builds(namespace string) typedClient[*buildv1.Build] {
	return dynamicTyped[*buildv1.Build]{c: d.api.Resource(childapi.Builds, namespace), new: func() *buildv1.Build { return &buildv1.Build{} }}
}

// dynamicTyped is a typedClient over one dynamic resource.
type dynamicTyped[T metav1.Object] struct {
	c   dynamic.ResourceInterface
	new func() T
}

func (d dynamicTyped[T]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return d.new(), fmt.Errorf("convert %T %s: %w", obj, obj.GetName(), err)
	}
	out, err := d.c.Create(ctx, &unstructured.Unstructured{Object: u}, opts)
	if err != nil {
		return d.new(), err
	}
	return d.typed(out)
}

func (d dynamicTyped[T]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	out, err := d.c.Get(ctx, name, opts)
	if err != nil {
		return d.new(), err
	}
	return d.typed(out)
}

func (d dynamicTyped[T]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return d.c.Delete(ctx, name, opts)
}

func (d dynamicTyped[T]) typed(u *unstructured.Unstructured) (T, error) {
	obj := d.new()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return obj, fmt.Errorf("decode %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return obj, nil
}
