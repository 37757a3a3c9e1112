package knative

import (
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// EventingNamespace is where Eventing's controllers, webhook and broker run.
const EventingNamespace = "knative-eventing"

// EventingModule is the module whose config/ and cmd/ this package installs, resolved with
// controlplane.ModuleDir in the module that pins its version (test/e2e/knative).
const EventingModule = "knative.dev/eventing"

// eventingDirs are the parts of Eventing installed, relative to the module directory, read
// recursively as `ko resolve -R -f` reads them for Eventing's release.
//
// The MT channel broker's top-level files are git symlinks into its roles/ and deployments/,
// which module zips leave out (two of them are present as files named "*.yaml~<commit>
// (<message>)", whose content is only a link target: roles/ingress-role.yaml and
// roles/ingress-rolebinding.yaml); reading the subdirectories gets the same objects.
// config/core/configmaps links eventing-integrations-images and eventing-transformations-images
// to third_party/eventing-integrations-latest the same way: the controller's Deployment reads
// image names from both ConfigMaps (configMapKeyRef, not optional), so without them its pod
// never starts.
var eventingDirs = []string{
	"config/core",
	"third_party/eventing-integrations-latest",
	"config/channels/in-memory-channel",
	"config/brokers/mt-channel-broker",
}

// EventingManifests reads Eventing's objects from moduleDir (the knative.dev/eventing module
// directory) and rewrites them for local images (ko:// references become ociimage.RefFor,
// containers pull Never). images are the import paths the objects reference, each to be
// built into its image: those of containers and those the controllers put in Deployments
// they create (env values such as APISERVER_RA_IMAGE).
func EventingManifests(moduleDir string) (objs []*unstructured.Unstructured, images []string, err error) {
	var roots []string
	for _, dir := range eventingDirs {
		roots = append(roots, filepath.Join(moduleDir, dir))
	}
	return localManifests(roots)
}

// localManifests reads every .yaml file under each root (each must hold at least one), in
// order, with local images (localImages), and returns the objects and the import paths of
// the images they reference.
func localManifests(roots []string) (objs []*unstructured.Unstructured, images []string, err error) {
	var files []string
	for _, root := range roots {
		found, err := yamlFiles(root)
		if err != nil {
			return nil, nil, err
		}
		if len(found) == 0 {
			return nil, nil, fmt.Errorf("no YAML manifest under %s", root)
		}
		files = append(files, found...)
	}
	seenImages := map[string]bool{}
	for _, path := range files {
		docs, err := yamldocs.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range docs {
			refs, err := localImages(d.Object)
			if err != nil {
				return nil, nil, fmt.Errorf("%s document %d: %w", path, d.Index, err)
			}
			for _, r := range refs {
				seenImages[r] = true
			}
			objs = append(objs, d.Object)
		}
	}
	return objs, sortedKeys(seenImages), nil
}

// yamlFiles lists the files under root whose names end in .yaml, in lexical order.
func yamlFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".yaml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing manifests under %s: %w", root, err)
	}
	return files, nil
}

func sortedKeys(set map[string]bool) []string {
	return slices.Sorted(maps.Keys(set))
}
