package knative

import (
	"fmt"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// FunctionManifests reads this project's side from repoRoot: config/ and eventsources/ as
// their kustomization.yaml files list them, unchanged, except that every Knative Service
// becomes a Deployment and a Service (DeploymentFor) and every reference to one of those
// Knative Services (a Trigger's subscriber) names the plain Service instead. Images are made
// local as in EventingManifests; images are the import paths to build (the functions and
// nbv-runner, which NBV_RUNNER_IMAGE names). Namespaces opt in separately, with
// config/rbac/opt-in (package optin).
func FunctionManifests(repoRoot string) (objs []*unstructured.Unstructured, images []string, err error) {
	var docs []manifestDoc
	for _, dir := range []string{"config", "eventsources"} {
		ds, err := readKustomization(filepath.Join(repoRoot, dir))
		if err != nil {
			return nil, nil, err
		}
		docs = append(docs, ds...)
	}
	converted := map[string]bool{} // namespace/name of each Knative Service turned into a Deployment
	for _, d := range docs {
		if !isKnativeService(d.obj.GetAPIVersion(), d.obj.GetKind()) {
			objs = append(objs, d.obj)
			continue
		}
		deploy, svc, err := DeploymentFor(d.raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", d.where, err)
		}
		for _, typed := range []runtime.Object{deploy, svc} {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", d.where, err)
			}
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
		converted[deploy.Namespace+"/"+deploy.Name] = true
	}
	seen := map[string]bool{}
	for _, obj := range objs {
		if err := retargetKnativeRefs(obj.Object, obj.GetNamespace(), converted, ""); err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", obj.GetKind(), objectName(obj), err)
		}
		refs, err := localImages(obj)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range refs {
			seen[r] = true
		}
	}
	return objs, sortedKeys(seen), nil
}

func isKnativeService(apiVersion, kind string) bool {
	return strings.HasPrefix(apiVersion, "serving.knative.dev/") && kind == "Service"
}

// retargetKnativeRefs rewrites, in place, every object reference in v ({apiVersion, kind,
// name[, namespace]}, a Trigger's spec.subscriber.ref or any other Destination) to a Knative
// Service that was converted into a reference to the plain Service of the same name, which
// Eventing resolves to http://<name>.<namespace>.svc.cluster.local. A reference to a Knative
// Service that was not converted is an error: nothing would answer it.
func retargetKnativeRefs(v any, namespace string, converted map[string]bool, path string) error {
	switch t := v.(type) {
	case map[string]any:
		apiVersion, _ := t["apiVersion"].(string)
		kind, _ := t["kind"].(string)
		name, _ := t["name"].(string)
		if name != "" && path != "" && isKnativeService(apiVersion, kind) {
			ns, _ := t["namespace"].(string)
			if ns == "" {
				ns = namespace
			}
			if !converted[ns+"/"+name] {
				return fmt.Errorf("%s names Knative Service %s/%s, which is not in config/", path, ns, name)
			}
			t["apiVersion"] = "v1"
			return nil
		}
		for k, e := range t {
			if err := retargetKnativeRefs(e, namespace, converted, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range t {
			if err := retargetKnativeRefs(e, namespace, converted, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}
