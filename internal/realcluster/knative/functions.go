package knative

import (
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// FunctionManifests reads this project's side from repoRoot: config/ and eventsources/ as
// their kustomization.yaml files list them, unchanged but for images, which are made local as
// in EventingManifests (the Knative Services of config/functions included). images are the
// import paths to build (the functions and nbv-runner, which NBV_RUNNER_IMAGE names).
// Namespaces opt in separately, with config/rbac/opt-in (package optin).
func FunctionManifests(repoRoot string) (objs []*unstructured.Unstructured, images []string, err error) {
	seen := map[string]bool{}
	for _, dir := range []string{"config", "eventsources"} {
		docs, err := readKustomization(filepath.Join(repoRoot, dir))
		if err != nil {
			return nil, nil, err
		}
		for _, d := range docs {
			refs, err := localImages(d.obj)
			if err != nil {
				return nil, nil, err
			}
			for _, r := range refs {
				seen[r] = true
			}
			objs = append(objs, d.obj)
		}
	}
	return objs, sortedKeys(seen), nil
}

func isKnativeService(apiVersion, kind string) bool {
	return strings.HasPrefix(apiVersion, "serving.knative.dev/") && kind == "Service"
}
