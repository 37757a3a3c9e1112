package knative

import (
	"fmt"
	"path/filepath"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TektonModule is the module whose config/ and cmd/ the e2e node's Tekton Pipelines comes
// from, resolved with controlplane.ModuleDir in the module that pins its version
// (test/e2e/tekton).
const TektonModule = "github.com/tektoncd/pipeline"

// TektonNamespace is where Tekton's controller and webhook run.
const TektonNamespace = "tekton-pipelines"

// TektonWebhooks are the configurations Tekton's webhook registers itself in: defaulting and
// validation of PipelineRuns (the ones job-created writes) and of its ConfigMaps.
var TektonWebhooks = Webhooks{
	Mutating:   []string{"webhook.pipeline.tekton.dev"},
	Validating: []string{"validation.webhook.pipeline.tekton.dev", "config.webhook.pipeline.tekton.dev"},
}

// tektonLeftOut are the files of config/ not installed, relative to it: the events controller
// (CloudEvents from Tekton, which nothing here consumes: the builds source watches
// PipelineRuns), the remote resolvers (a job's pipeline is inline or a Pipeline in its
// namespace) and the webhook's autoscaler (one node).
var tektonLeftOut = []string{"events.yaml", "resolvers", "webhook-hpa.yaml"}

// tektonShellFlag is the controller's flag naming the image of the init container that writes
// steps' scripts: it needs a shell, and Tekton's default (cgr.dev/chainguard/busybox) is not
// on this cluster.
const tektonShellFlag = "-shell-image"

// TektonManifests reads Tekton Pipelines' objects from moduleDir (the module directory) with
// local images, as EventingManifests does: the controller, the webhook and the images the
// controller puts in TaskRun pods (entrypoint, nop, sidecarlogresults, workingdirinit), which
// are the import paths returned. shellImage replaces the controller's shell image.
func TektonManifests(moduleDir, shellImage string) (objs []*unstructured.Unstructured, images []string, err error) {
	config := filepath.Join(moduleDir, "config")
	all, err := yamlFiles(config)
	if err != nil {
		return nil, nil, err
	}
	var files []string
	for _, f := range all {
		rel, err := filepath.Rel(config, f)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Contains(tektonLeftOut, rel) && !slices.Contains(tektonLeftOut, firstElem(rel)) {
			files = append(files, f)
		}
	}
	objs, images, err = localManifests(files)
	if err != nil {
		return nil, nil, err
	}
	if err := setControllerFlag(objs, "tekton-pipelines-controller", tektonShellFlag, shellImage); err != nil {
		return nil, nil, err
	}
	return objs, images, nil
}

// firstElem is the first element of a relative path.
func firstElem(rel string) string {
	for {
		dir := filepath.Dir(rel)
		if dir == "." {
			return rel
		}
		rel = dir
	}
}

// setControllerFlag sets the value following flag in the args of the Deployment deployment's
// first container; the flag must be there already.
func setControllerFlag(objs []*unstructured.Unstructured, deployment, flag, value string) error {
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetName() != deployment {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if len(containers) == 0 {
			return fmt.Errorf("Deployment %s has no container", deployment)
		}
		c := containers[0].(map[string]any)
		args, _ := c["args"].([]any)
		i := slices.Index(args, any(flag))
		if i < 0 || i+1 >= len(args) {
			return fmt.Errorf("Deployment %s: no %s flag with a value in %v", deployment, flag, args)
		}
		args[i+1] = value
		return unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers")
	}
	return fmt.Errorf("no Deployment %s", deployment)
}
