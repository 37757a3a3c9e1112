package modelready

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
)

// Discovery is what the Reader asks of API discovery: which resources a group version serves
// and which groups exist. APIDiscovery answers it with two plain GETs, so that job-created
// links none of client-go's discovery client (its OpenAPI models alone were 15 MB of the
// stripped binary).
type Discovery interface {
	ResourcesFor(ctx context.Context, groupVersion string) (*metav1.APIResourceList, error)
	Groups(ctx context.Context) (*metav1.APIGroupList, error)
}

// APIDiscovery is Discovery over the API server's discovery endpoints.
type APIDiscovery struct{ client rest.Interface }

// NewAPIDiscovery builds an APIDiscovery for cfg (which it does not modify).
func NewAPIDiscovery(cfg *rest.Config) (*APIDiscovery, error) {
	c := rest.CopyConfig(cfg)
	c.NegotiatedSerializer = serializer.WithoutConversionCodecFactory{CodecFactory: serializer.NewCodecFactory(runtime.NewScheme())}
	client, err := rest.UnversionedRESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	return &APIDiscovery{client: client}, nil
}

// ResourcesFor lists the resources groupVersion serves; an unserved one is a NotFound error.
func (d *APIDiscovery) ResourcesFor(ctx context.Context, groupVersion string) (*metav1.APIResourceList, error) {
	path := "/apis/" + groupVersion
	if groupVersion == "v1" {
		path = "/api/v1"
	}
	list := &metav1.APIResourceList{}
	return list, d.get(ctx, path, list)
}

// Groups lists the API groups the server serves (the legacy core group is not one of them).
func (d *APIDiscovery) Groups(ctx context.Context) (*metav1.APIGroupList, error) {
	list := &metav1.APIGroupList{}
	return list, d.get(ctx, "/apis", list)
}

func (d *APIDiscovery) get(ctx context.Context, path string, into any) error {
	raw, err := d.client.Get().AbsPath(path).SetHeader("Accept", "application/json").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("discover %s: %w", path, err)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("discover %s: decode: %w", path, err)
	}
	return nil
}
