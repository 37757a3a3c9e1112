package realcluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/internal/modelready"
)

// knativeKinds are the Knative objects this project applies; each reports a Ready condition.
// The Knative Services come first: a Trigger is Ready only once its subscriber has an address.
var knativeKinds = []schema.GroupVersionResource{
	{Group: "serving.knative.dev", Version: "v1", Resource: "services"},
	{Group: "eventing.knative.dev", Version: "v1", Resource: "brokers"},
	{Group: "eventing.knative.dev", Version: "v1", Resource: "triggers"},
	{Group: "sources.knative.dev", Version: "v1", Resource: "apiserversources"},
	{Group: "sources.knative.dev", Version: "v1", Resource: "pingsources"},
}

// waitKnativeReady waits until every Knative Service, Broker, Trigger, ApiServerSource and
// PingSource in namespace is Ready: each Service's revision ran and is routed by the ingress,
// the Broker's channel is subscribed, each Trigger's subscriber resolved, each source's
// adapter running. When ctx ends first, the error names each one that is not
// and the reason its Ready condition gives.
func waitKnativeReady(ctx context.Context, cfg *rest.Config, namespace string) error {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	var notReady []string
	for {
		notReady = notReady[:0]
		total := 0
		for _, gvr := range knativeKinds {
			list, err := client.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				notReady = append(notReady, fmt.Sprintf("%s: %v", gvr.Resource, err))
				continue
			}
			for _, item := range list.Items {
				total++
				if why, ok := readyCondition(&item); !ok {
					notReady = append(notReady, fmt.Sprintf("%s %s (%s)", item.GetKind(), item.GetName(), why))
				}
			}
		}
		if total > 0 && len(notReady) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(notReady)
			return fmt.Errorf("knative objects in %s not Ready: %s: %w", namespace, strings.Join(notReady, "; "), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// readyCondition reports whether obj's Ready condition is True for its current generation,
// and otherwise why not.
func readyCondition(obj *unstructured.Unstructured) (string, bool) {
	observed, _, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if observed < obj.GetGeneration() {
		return "not yet observed", false
	}
	ready, why := modelready.ConditionReady(obj)
	return why, ready
}
