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
// ServiceAccount or ConfigMap exists (a ReplicaSet would back off for minutes). Kinds not
// listed go between configuration and workloads, in their input order.
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

// InstallEventing installs Eventing's objects and waits until its Deployments and
// StatefulSets are available and its webhook has registered. Only then may this project's
// side be installed (Install): the Broker gets its class, without which no broker controller
// takes it, from Eventing's defaulting webhook. The error says what is not ready.
func InstallEventing(ctx context.Context, cfg *rest.Config, eventing []*unstructured.Unstructured) error {
	if err := Install(ctx, cfg, eventing); err != nil {
		return fmt.Errorf("installing Eventing: %w", err)
	}
	if err := WaitAvailable(ctx, cfg, EventingNamespace); err != nil {
		return err
	}
	return WaitWebhooks(ctx, cfg)
}
