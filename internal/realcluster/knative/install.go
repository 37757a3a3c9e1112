package knative

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/serverapply"
)

// fieldManager owns what Install applies.
const fieldManager = "nbv-e2e"

// applyRank orders the objects applied after namespaces and CRDs: identities and
// configuration before what runs with them, so that a pod never starts before its
// ServiceAccount or ConfigMap exists (a ReplicaSet would back off for minutes), and webhook
// configurations last. Kinds not listed go between configuration and workloads, in their
// input order.
var applyRank = map[string]int{
	"ServiceAccount":     0,
	"ClusterRole":        1,
	"Role":               1,
	"ClusterRoleBinding": 2,
	"RoleBinding":        2,
	"ConfigMap":          3,
	"Secret":             3,
	"Deployment":         5,
	"StatefulSet":        5,
	"DaemonSet":          5,
	// Serving ships its webhook configurations with rules and failurePolicy Fail: applied
	// before its other objects, they would refuse them until the webhook serves.
	"MutatingWebhookConfiguration":   6,
	"ValidatingWebhookConfiguration": 6,
}

const otherRank = 4

// Install server-side applies objs (objects are not modified): first the Namespaces, then the
// CustomResourceDefinitions, waiting until each is Established, then the rest, configuration
// before workloads. An object the API server refuses is an error naming it.
//
// Install does not wait for anything to run. Eventing's webhook must be serving before
// objects it defaults are created (a Broker gets its class annotation, without which no broker
// controller takes it, from the defaulting webhook), so Eventing's objects and this project's
// go in two calls with WaitAvailable and WaitWebhooks in between.
func Install(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) error {
	namespaces, crds, others := installStages(objs)
	opts := serverapply.Options{FieldManager: fieldManager}
	if err := serverapply.Objects(ctx, cfg, namespaces, opts); err != nil {
		return err
	}
	if len(crds) > 0 {
		client, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return fmt.Errorf("dynamic client: %w", err)
		}
		if err := controlplane.InstallCRDs(ctx, client, crds); err != nil {
			return err
		}
	}
	return serverapply.Objects(ctx, cfg, others, opts)
}

// installStages splits objs into the order Install applies them in.
func installStages(objs []*unstructured.Unstructured) (namespaces, crds, others []*unstructured.Unstructured) {
	for _, o := range objs {
		switch {
		case o.GetKind() == "Namespace" && o.GetAPIVersion() == "v1":
			namespaces = append(namespaces, o)
		case o.GetKind() == "CustomResourceDefinition":
			crds = append(crds, o)
		default:
			others = append(others, o)
		}
	}
	sort.SliceStable(others, func(i, j int) bool { return rank(others[i]) < rank(others[j]) })
	return namespaces, crds, others
}

func rank(o *unstructured.Unstructured) int {
	if r, ok := applyRank[o.GetKind()]; ok {
		return r
	}
	return otherRank
}

// Platform is a part of the cluster installed before this project's side: its objects, the
// namespaces whose Deployments and StatefulSets must be available, and the webhooks that must
// have registered before objects they default are created.
type Platform struct {
	Name       string
	Objects    []*unstructured.Unstructured
	Namespaces []string
	Webhooks   []Webhooks
}

// InstallPlatform installs the objects of every part in one Install (so Eventing, Serving and
// the ingress start together) and waits until each part's workloads are available and its
// webhooks have registered. Only then may this project's side be installed: the Broker gets
// its class, without which no broker controller takes it, from Eventing's defaulting webhook,
// and a Knative Service its defaults from Serving's. The error names the part not ready.
func InstallPlatform(ctx context.Context, cfg *rest.Config, parts ...Platform) error {
	var objs []*unstructured.Unstructured
	for _, p := range parts {
		objs = append(objs, p.Objects...)
	}
	if err := Install(ctx, cfg, objs); err != nil {
		return err
	}
	for _, p := range parts {
		for _, ns := range p.Namespaces {
			if err := WaitAvailable(ctx, cfg, ns); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
		}
		if err := WaitWebhooks(ctx, cfg, p.Webhooks...); err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
	}
	return nil
}
