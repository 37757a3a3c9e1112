package buildchild

import (
	"context"

	buildv1 "github.com/openshift/api/build/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/dyntyped"
)

// typedClient is what build children need of a typed client of one kind in one namespace.
// OpenShift's generated clients (github.com/openshift/client-go) have these methods too, so
// tests can stand theirs (and its fake) in for dyntyped.Client.
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
	return dyntyped.Client[*buildv1.BuildConfig]{Resource: d.api.Resource(childapi.BuildConfigs, namespace), New: func() *buildv1.BuildConfig { return &buildv1.BuildConfig{} }}
}

func (d dynamicOpenShift) Builds(namespace string) typedClient[*buildv1.Build] {
	return dyntyped.Client[*buildv1.Build]{Resource: d.api.Resource(childapi.Builds, namespace), New: func() *buildv1.Build { return &buildv1.Build{} }}
}
