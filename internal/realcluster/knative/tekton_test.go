package knative

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

// TestTektonManifestsRunLocally reads Tekton Pipelines from the module test/e2e/tekton pins:
// every image is local, the controller's TaskRun images are among those to build, its shell
// image is the one given, and what is left out (events, resolvers) is not installed.
func TestTektonManifestsRunLocally(t *testing.T) {
	dir, err := controlplane.ModuleDir(context.Background(), filepath.Join(repoRoot(t), "test", "e2e", "tekton"), TektonModule, "")
	if err != nil {
		t.Fatal(err)
	}
	const shell = "10.77.0.2:30500/nbv/notebook:e2e"
	objs, images, err := TektonManifests(dir, shell)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range []string{"controller", "entrypoint", "nop", "sidecarlogresults", "webhook", "workingdirinit"} {
		want = append(want, TektonModule+"/cmd/"+c)
	}
	if !slices.Equal(images, want) {
		t.Errorf("images %q, want %q", images, want)
	}
	var controllerArgs []any
	crds := 0
	for _, o := range objs {
		localJSON(t, o)
		// Their RBAC comes with the rest of 200-*.yaml; no workload of theirs may run.
		if o.GetKind() == "Deployment" && o.GetName() != "tekton-pipelines-controller" && o.GetName() != "tekton-pipelines-webhook" {
			t.Errorf("Deployment %s is installed, but only the controller and the webhook run", objectName(o))
		}
		if o.GetKind() == "CustomResourceDefinition" {
			crds++
		}
		if o.GetKind() == "Deployment" && o.GetName() == "tekton-pipelines-controller" {
			containers := o.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
			controllerArgs = containers[0].(map[string]any)["args"].([]any)
		}
	}
	if crds < 7 {
		t.Errorf("%d CRDs, want Tekton's Pipeline, PipelineRun, Task, TaskRun and the rest", crds)
	}
	for _, flag := range []struct{ name, value string }{
		{"-shell-image", shell},
		{"-entrypoint-image", ociimage.RefFor(TektonModule + "/cmd/entrypoint")},
		{"-nop-image", ociimage.RefFor(TektonModule + "/cmd/nop")},
	} {
		i := slices.Index(controllerArgs, any(flag.name))
		if i < 0 || controllerArgs[i+1] != flag.value {
			t.Errorf("controller args %v: want %s %s", controllerArgs, flag.name, flag.value)
		}
	}
}

func TestSetControllerFlagNamesWhatIsMissing(t *testing.T) {
	if err := setControllerFlag(nil, "absent", "-x", "y"); err == nil || !strings.Contains(err.Error(), "no Deployment absent") {
		t.Errorf("err %v, want it to name the missing Deployment", err)
	}
}
