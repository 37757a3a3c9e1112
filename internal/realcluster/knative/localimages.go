package knative

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

// podSpecPaths says where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Pod":         {"spec"},
	"Deployment":  {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
}

// knativeServiceSpecPath is where a Knative Service keeps its revisions' pod spec.
var knativeServiceSpecPath = []string{"spec", "template", "spec"}

// podSpecPath is where obj keeps its pod spec; false for a kind without one.
func podSpecPath(obj *unstructured.Unstructured) ([]string, bool) {
	if isKnativeService(obj.GetAPIVersion(), obj.GetKind()) {
		return knativeServiceSpecPath, true
	}
	path, ok := podSpecPaths[obj.GetKind()]
	return path, ok
}

// localImages rewrites obj, in place, for a cluster without a registry: every string value
// "ko://<import path>" anywhere in it (container images, but also env values such as
// Eventing's APISERVER_RA_IMAGE, which its controller puts in the Deployments it creates)
// becomes ociimage.RefFor(<import path>), and every container of its pod spec gets
// imagePullPolicy Never. It returns the import paths it replaced, sorted and without
// repeats. A container whose image is not a ko:// reference is an error: nothing here could
// pull it.
func localImages(obj *unstructured.Unstructured) ([]string, error) {
	where := fmt.Sprintf("%s %s", obj.GetKind(), objectName(obj))
	if err := checkContainerImages(obj, where); err != nil {
		return nil, err
	}
	found := map[string]bool{}
	rewritten, err := rewriteKoRefs(obj.Object, "", found)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	obj.Object = rewritten.(map[string]any)
	if err := setPullNever(obj); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return sortedKeys(found), nil
}

// rewriteKoRefs returns v with every ko:// string replaced by its local ref, recording the
// import paths in found.
func rewriteKoRefs(v any, path string, found map[string]bool) (any, error) {
	return ociimage.ReplaceKoRefs(v, path, func(pkg string) string {
		found[pkg] = true
		return ociimage.RefFor(pkg)
	})
}

// containerLists are the fields of a pod spec that hold containers.
var containerLists = []string{"initContainers", "containers"}

func checkContainerImages(obj *unstructured.Unstructured, where string) error {
	return eachContainer(obj, func(field string, c map[string]any) error {
		image, _ := c["image"].(string)
		if !strings.HasPrefix(image, ociimage.KoPrefix) {
			return fmt.Errorf("%s: %s %v has image %q: only ko:// images are built for this cluster, which has no registry", where, field, c["name"], image)
		}
		return nil
	})
}

func setPullNever(obj *unstructured.Unstructured) error {
	return eachContainer(obj, func(_ string, c map[string]any) error {
		c["imagePullPolicy"] = "Never"
		return nil
	})
}

// eachContainer calls fn with every container of obj's pod spec (none for a kind that has no
// pod spec). fn may modify the container.
func eachContainer(obj *unstructured.Unstructured, fn func(field string, c map[string]any) error) error {
	specPath, ok := podSpecPath(obj)
	if !ok {
		return nil
	}
	spec, found, err := unstructured.NestedMap(obj.Object, specPath...)
	if err != nil {
		return fmt.Errorf("pod spec at %s: %w", strings.Join(specPath, "."), err)
	}
	if !found {
		return fmt.Errorf("no pod spec at %s", strings.Join(specPath, "."))
	}
	for _, field := range containerLists {
		list, _ := spec[field].([]any)
		for _, e := range list {
			c, ok := e.(map[string]any)
			if !ok {
				return fmt.Errorf("%s holds a %T, not a container", field, e)
			}
			if err := fn(field, c); err != nil {
				return err
			}
		}
	}
	return unstructured.SetNestedMap(obj.Object, spec, specPath...)
}

func objectName(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns + "/" + obj.GetName()
	}
	return obj.GetName()
}
