package cisignature

import (
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/internal/dyntyped"
)

// LeaseClient is what LeaseStore needs of a namespace's Leases. client-go's generated
// LeaseInterface fits it too.
type LeaseClient interface {
	Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error)
	List(ctx context.Context, opts metav1.ListOptions) (*coordinationv1.LeaseList, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// SecretClient is what SecretKeys needs of a namespace's Secrets. client-go's generated
// SecretInterface fits it too.
type SecretClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Secret, error)
}

var (
	leasesGVR  = coordinationv1.SchemeGroupVersion.WithResource("leases")
	secretsGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// LeasesOver serves LeaseStore.Leases through the dynamic client: the generated clientset
// would link every built-in API group (package dyntyped).
func LeasesOver(dyn dynamic.Interface) func(namespace string) LeaseClient {
	return func(namespace string) LeaseClient {
		r := dyn.Resource(leasesGVR).Namespace(namespace)
		return leases{Client: dyntyped.Client[*coordinationv1.Lease]{Resource: r, New: func() *coordinationv1.Lease { return &coordinationv1.Lease{} }}}
	}
}

// SecretsOver serves SecretKeys.Secrets through the dynamic client.
func SecretsOver(dyn dynamic.Interface) func(namespace string) SecretClient {
	return func(namespace string) SecretClient {
		r := dyn.Resource(secretsGVR).Namespace(namespace)
		return dyntyped.Client[*corev1.Secret]{Resource: r, New: func() *corev1.Secret { return &corev1.Secret{} }}
	}
}

// leases adds List to the typed dynamic client.
type leases struct {
	dyntyped.Client[*coordinationv1.Lease]
}

func (l leases) List(ctx context.Context, opts metav1.ListOptions) (*coordinationv1.LeaseList, error) {
	list := &coordinationv1.LeaseList{}
	return list, dyntyped.List(ctx, l.Resource, opts, list)
}
