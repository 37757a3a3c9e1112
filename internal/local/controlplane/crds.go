package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mlops-dev/nbv/internal/cmdoutput"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// crdGVR addresses CustomResourceDefinitions for the dynamic client; using it instead of the
// apiextensions clientset keeps that clientset out of every binary that links this package.
var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// Module versions whose CRDs the default set installs. Tekton and Knative Eventing are read
// from the main module's go.mod (so they follow its pins); Serving is not a dependency of the
// main module and is pinned here to the release matching Eventing.
const (
	tektonModule   = "github.com/tektoncd/pipeline"
	eventingModule = "knative.dev/eventing"
	servingModule  = "knative.dev/serving"
	servingVersion = "v0.50.0"
)

// DefaultCRDGlobs returns the CRD manifests a full local cluster needs, as file globs:
// this project's CRD (config/crd), the OpenShift Build stand-ins (test/controlplane/crds),
// Tekton's config/300-crds, Knative Eventing's config/core/resources and Knative Serving's
// config/core/300-resources. The module directories come from the Go module cache (`go list
// -m` / `go mod download`), which needs the go command and, for a cold cache, the module proxy.
func DefaultCRDGlobs(ctx context.Context, repoRoot string) ([]string, error) {
	globs := []string{
		filepath.Join(repoRoot, "config", "crd", "*.yaml"),
		filepath.Join(repoRoot, "test", "controlplane", "crds", "*.yaml"),
	}
	tekton, err := ModuleDir(ctx, repoRoot, tektonModule, "")
	if err != nil {
		return nil, err
	}
	eventing, err := ModuleDir(ctx, repoRoot, eventingModule, "")
	if err != nil {
		return nil, err
	}
	serving, err := ModuleDir(ctx, repoRoot, servingModule, servingVersion)
	if err != nil {
		return nil, err
	}
	return append(globs,
		filepath.Join(tekton, "config", "300-crds", "*.yaml"),
		filepath.Join(eventing, "config", "core", "resources", "*.yaml"),
		filepath.Join(serving, "config", "core", "300-resources", "*.yaml"),
	), nil
}

var (
	moduleDirsMu sync.Mutex
	moduleDirs   = map[string]string{}
)

// ModuleDir finds a module's directory in the module cache. With version "" it resolves the
// version the Go module in goModDir requires (`go list -m`), downloading it when absent;
// otherwise it downloads module@version. Results are memoised: the go command costs ~0.1-1 s.
func ModuleDir(ctx context.Context, goModDir, module, version string) (string, error) {
	key := goModDir + " " + module + "@" + version
	moduleDirsMu.Lock()
	defer moduleDirsMu.Unlock()
	if dir, ok := moduleDirs[key]; ok {
		return dir, nil
	}
	var info struct{ Version, Dir, Error string }
	if version == "" {
		if err := goJSON(ctx, goModDir, &info, "list", "-m", "-json", module); err != nil {
			return "", err
		}
		version = info.Version
	}
	if info.Dir == "" {
		// Not extracted yet: `go mod download` fetches it without touching go.mod.
		if err := goJSON(ctx, goModDir, &info, "mod", "download", "-json", module+"@"+version); err != nil {
			return "", err
		}
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("locating module %s@%s: %s", module, version, info.Error)
	}
	moduleDirs[key] = info.Dir
	return info.Dir, nil
}

func goJSON(ctx context.Context, dir string, out any, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	data, err := cmdoutput.Stdout(cmd)
	if err != nil {
		return fmt.Errorf("in %s: %w", dir, err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding output of go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// LoadCRDs reads every CustomResourceDefinition in the files matching globs (multi-document
// YAML allowed) and prepares it for a cluster that runs no webhooks: spec.conversion is
// removed, since a conversion webhook nobody serves would make every read of a non-storage
// version fail. A glob that matches nothing is an error, so a moved directory is noticed.
func LoadCRDs(globs []string) ([]*unstructured.Unstructured, error) {
	var crds []*unstructured.Unstructured
	seen := map[string]string{}
	for _, g := range globs {
		files, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("bad CRD glob %q: %w", g, err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no CRD manifests match %s", g)
		}
		sort.Strings(files)
		for _, f := range files {
			docs, err := readCRDFile(f)
			if err != nil {
				return nil, err
			}
			for _, crd := range docs {
				if prev, dup := seen[crd.GetName()]; dup {
					return nil, fmt.Errorf("CRD %s is defined in both %s and %s", crd.GetName(), prev, f)
				}
				seen[crd.GetName()] = f
				crds = append(crds, crd)
			}
		}
	}
	return crds, nil
}

func readCRDFile(path string) ([]*unstructured.Unstructured, error) {
	docs, err := yamldocs.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, 0, len(docs))
	for _, d := range docs {
		u := d.Object
		if u.GetKind() != "CustomResourceDefinition" {
			return nil, fmt.Errorf("%s document %d is a %s, not a CustomResourceDefinition", path, d.Index, u.GetKind())
		}
		unstructured.RemoveNestedField(u.Object, "spec", "conversion")
		unstructured.RemoveNestedField(u.Object, "status")
		out = append(out, u)
	}
	return out, nil
}

// InstallCRDs server-side applies crds (idempotent: a restart on a kept data dir re-applies
// them) and waits until every one is Established, i.e. served by the API server.
func InstallCRDs(ctx context.Context, client dynamic.Interface, crds []*unstructured.Unstructured) error {
	force := true
	for _, crd := range crds {
		data, err := json.Marshal(crd.Object)
		if err != nil {
			return fmt.Errorf("encoding CRD %s: %w", crd.GetName(), err)
		}
		_, err = client.Resource(crdGVR).Patch(ctx, crd.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: "nbv-controlplane", Force: &force})
		if err != nil {
			return fmt.Errorf("applying CRD %s: %w", crd.GetName(), err)
		}
	}
	return waitEstablished(ctx, client, crds)
}

func waitEstablished(ctx context.Context, client dynamic.Interface, crds []*unstructured.Unstructured) error {
	pending := map[string]bool{}
	for _, crd := range crds {
		pending[crd.GetName()] = true
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		list, err := client.Resource(crdGVR).List(ctx, metav1.ListOptions{})
		if err != nil && !apierrors.IsTooManyRequests(err) {
			return fmt.Errorf("listing CRDs: %w", err)
		}
		if list != nil {
			for _, item := range list.Items {
				if pending[item.GetName()] && established(&item) {
					delete(pending, item.GetName())
				}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			names := make([]string, 0, len(pending))
			for n := range pending {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("CRDs not Established: %s: %w", strings.Join(names, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// FindRepoRoot walks up from dir to the directory holding this project's go.mod.
func FindRepoRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(data), []byte("module "+mainModule+"\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of module %s above %s", mainModule, abs)
		}
	}
}

const mainModule = "github.com/mlops-dev/nbv"
