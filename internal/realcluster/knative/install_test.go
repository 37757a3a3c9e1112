package knative

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
)

// TestInstallOnAPIServer applies Eventing and this project's side to a real kube-apiserver
// (with kube-controller-manager, no node): every object must be accepted, in two steps as on
// the real node, while Eventing's webhook is not running.
func TestInstallOnAPIServer(t *testing.T) {
	if err := controlplane.CheckBinaries("", true); err != nil {
		if os.Getenv("NBV_SKIP_INTEGRATION") == "1" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	eventing, _ := eventingObjects(t)
	serving, _ := servingObjects(t)
	traefik := traefikObjects(t)
	functions, _, err := FunctionManifests(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{RepoRoot: repoRoot(t), NoCRDs: true, ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	cfg := cp.RESTConfig()

	// With no node nothing of Eventing becomes available: InstallPlatform applies it all,
	// with Serving and Traefik, and then says which Deployment is not ready.
	// Long enough to apply all three under a loaded make test (5 s was not), short enough to
	// end the wait for pods that never come.
	short, cancelShort := context.WithTimeout(ctx, 30*time.Second)
	err = InstallPlatform(short, cfg,
		Platform{Name: "Eventing", Objects: eventing, Namespaces: []string{EventingNamespace}, Webhooks: []Webhooks{EventingWebhooks}},
		Platform{Name: "Serving", Objects: serving, Namespaces: []string{ServingNamespace}, Webhooks: []Webhooks{ServingWebhooks}},
		Platform{Name: "Traefik", Objects: traefik, Namespaces: []string{"default"}})
	cancelShort()
	if err == nil || !strings.Contains(err.Error(), "Eventing: ") || !strings.Contains(err.Error(), "Deployment eventing-webhook") {
		t.Errorf("InstallPlatform with no node: %v, want an error naming Eventing and eventing-webhook", err)
	}
	for _, objs := range [][]*unstructured.Unstructured{eventing, serving, traefik} {
		expectStored(ctx, t, cfg, objs)
	}
	// Applying Eventing and Traefik again changes nothing and fails nothing (a rerun on a kept
	// cluster). Serving's webhook configurations come with their rules and failurePolicy
	// Fail, so until its webhook serves they may refuse its own objects: Install applies them
	// last.
	if err := Install(ctx, cfg, append(append([]*unstructured.Unstructured{}, eventing...), traefik...)); err != nil {
		t.Fatalf("installing Eventing and Traefik again: %v", err)
	}
	short, cancelShort = context.WithTimeout(ctx, 2*time.Second)
	err = WaitWebhooks(short, cfg, ServingWebhooks)
	cancelShort()
	if err == nil || !strings.Contains(err.Error(), "webhook.serving.knative.dev") {
		t.Errorf("WaitWebhooks without Serving's webhook: %v, want an error naming it", err)
	}

	// Nothing serves Eventing's webhook here: it never registers, and the wait says which
	// configuration is missing its rules.
	short, cancelShort = context.WithTimeout(ctx, 2*time.Second)
	err = WaitWebhooks(short, cfg, EventingWebhooks)
	cancelShort()
	if err == nil || !strings.Contains(err.Error(), DefaultingWebhook) {
		t.Errorf("WaitWebhooks without a webhook: %v, want an error naming %s", err, DefaultingWebhook)
	}
	// No node: the wait names what is not available and why, and leaves out what is scaled
	// to zero.
	short, cancelShort = context.WithTimeout(ctx, 5*time.Second)
	err = WaitAvailable(short, cfg, EventingNamespace)
	cancelShort()
	if err == nil {
		t.Fatal("WaitAvailable with no node: nil error")
	}
	for _, want := range []string{"Deployment eventing-webhook (0/1 available", "StatefulSet request-reply", "Deployment mt-broker-ingress"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("WaitAvailable error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "pingsource-mt-adapter") {
		t.Errorf("WaitAvailable names pingsource-mt-adapter, which asks for no replica:\n%v", err)
	}
	t.Logf("WaitAvailable with no node: %v", err)

	// Until Eventing's webhook registers, its configurations carry no rules, so they block
	// nothing: the Broker, Triggers and sources are accepted (without Eventing's defaults).
	// Serving's come with rules: the Knative Services are refused until its webhook serves.
	var ksvcs, rest []*unstructured.Unstructured
	for _, o := range functions {
		if isKnativeService(o.GetAPIVersion(), o.GetKind()) {
			ksvcs = append(ksvcs, o)
		} else {
			rest = append(rest, o)
		}
	}
	if err := Install(ctx, cfg, rest); err != nil {
		t.Fatalf("installing the functions' Broker, Triggers and sources: %v", err)
	}
	expectStored(ctx, t, cfg, rest)
	if err := Install(ctx, cfg, ksvcs); err == nil || !strings.Contains(err.Error(), "webhook.serving.knative.dev") {
		t.Errorf("the Knative Services while Serving's webhook is down: %v, want a refusal naming webhook.serving.knative.dev", err)
	}

	// Once the webhook has registered (here: its rules written by hand, as it writes them),
	// failurePolicy Fail refuses what it should admit while it is down: on the real node the
	// webhook must serve before the Broker and the rest are applied (WaitWebhooks).
	kube := kubernetes.NewForConfigOrDie(cfg)
	hooks, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, DefaultingWebhook, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks.Webhooks) == 0 || len(hooks.Webhooks[0].Rules) != 0 || hooks.Webhooks[0].FailurePolicy == nil || *hooks.Webhooks[0].FailurePolicy != admissionv1.Fail {
		t.Fatalf("%s as installed: %+v, want one webhook with no rules and failurePolicy Fail", DefaultingWebhook, hooks.Webhooks)
	}
	hooks.Webhooks[0].Rules = []admissionv1.RuleWithOperations{{
		Operations: []admissionv1.OperationType{admissionv1.Create},
		Rule:       admissionv1.Rule{APIGroups: []string{"eventing.knative.dev"}, APIVersions: []string{"v1"}, Resources: []string{"brokers"}},
	}}
	if _, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, hooks, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	broker := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
		"metadata": map[string]any{"name": "after-registration", "namespace": "nbv-system"},
	}}
	err = Install(ctx, cfg, []*unstructured.Unstructured{broker})
	if err == nil || !strings.Contains(err.Error(), DefaultingWebhook) {
		t.Errorf("a Broker with the webhook registered but down: %v, want a refusal naming %s", err, DefaultingWebhook)
	}
}

var brokersGVR = schema.GroupVersionResource{Group: "eventing.knative.dev", Version: "v1", Resource: "brokers"}

// expectStored reads every object back from the API server.
func expectStored(ctx context.Context, t *testing.T, cfg *rest.Config, objs []*unstructured.Unstructured) {
	t.Helper()
	client := dynamic.NewForConfigOrDie(cfg)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Errorf("%s %s: %v", gvk.Kind, objectName(o), err)
			continue
		}
		var ri dynamic.ResourceInterface = client.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = client.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		if _, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				t.Errorf("%s %s was not stored", gvk.Kind, objectName(o))
			} else {
				t.Errorf("reading %s %s: %v", gvk.Kind, objectName(o), err)
			}
		}
	}
}

// TestInstallStagesOrder: namespaces, then CRDs, then identities, configuration, other kinds
// in input order, workloads, and webhook configurations last (Serving's ship with rules and
// would refuse what follows them while its webhook is not serving).
func TestInstallStagesOrder(t *testing.T) {
	obj := func(apiVersion, kind, name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name}}}
	}
	in := []*unstructured.Unstructured{
		obj("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "hook"),
		obj("apps/v1", "Deployment", "controller"),
		obj("networking.internal.knative.dev/v1alpha1", "Certificate", "cert"),
		obj("v1", "ConfigMap", "config"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "crd"),
		obj("caching.internal.knative.dev/v1alpha1", "Image", "image"),
		obj("v1", "ServiceAccount", "sa"),
		obj("v1", "Namespace", "ns"),
	}
	namespaces, crds, others := installStages(in)
	var got []string
	for _, group := range [][]*unstructured.Unstructured{namespaces, crds, others} {
		for _, o := range group {
			got = append(got, o.GetName())
		}
	}
	want := []string{"ns", "crd", "sa", "config", "cert", "image", "controller", "hook"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
