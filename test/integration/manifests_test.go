package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/cmdoutput"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/serverapply"
	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// manifestDirs are the directories whose every YAML file a user may apply, except the
// promtool unit tests of the alert rules, which are not manifests.
var manifestDirs = []string{"config", "eventsources"}

const promtoolTests = "config/monitoring/tests"

// manifestFiles lists the YAML files under manifestDirs, kustomizations apart.
func manifestFiles(t *testing.T) (files, kustomizations []string) {
	t.Helper()
	for _, dir := range manifestDirs {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && path == filepath.Join(repoRoot, promtoolTests) {
				return filepath.SkipDir
			}
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return err
			}
			if d.Name() == "kustomization.yaml" {
				kustomizations = append(kustomizations, filepath.Dir(path))
			} else {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) == 0 || len(kustomizations) == 0 {
		t.Fatalf("found %d manifests and %d kustomizations under %v", len(files), len(kustomizations), manifestDirs)
	}
	return files, kustomizations
}

// TestManifestsPassServerDryRun applies every file of config/ and eventsources/, and what each
// kustomization there renders (kubectl kustomize), with server-side apply, strict field
// validation and dryRun=All: the API server runs its schema validation (CEL included) and
// admission on each object and stores nothing. Namespaced documents that name no namespace
// (samples, opt-in RoleBindings, event sources outside their kustomization) go into a test
// namespace. Limit: Knative's and Tekton's CRDs carry schemas, but the validation their
// webhooks add (Knative's defaulting and cross-field checks) does not run here; no webhook runs.
func TestManifestsPassServerDryRun(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := newNamespace(t, ctx, cp)
	// The namespace config/namespace.yaml creates: objects in it need it to exist, even dry.
	if err := cp.EnsureNamespace(ctx, "nbv-system"); err != nil {
		t.Fatal(err)
	}
	dryRun := serverapply.Options{FieldManager: "nbv-dry-run", DefaultNamespace: ns, DryRun: true}
	files, kustomizations := manifestFiles(t)
	for _, path := range files {
		rel, _ := filepath.Rel(repoRoot, path)
		t.Run(rel, func(t *testing.T) {
			docs, err := yamldocs.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) == 0 {
				t.Fatal("no documents")
			}
			if err := serverapply.Objects(ctx, cp.RESTConfig(), docObjects(docs), dryRun); err != nil {
				t.Error(err)
			}
		})
	}
	kubectl := filepath.Join(controlplane.DefaultBinDir(), "kubectl")
	for _, dir := range kustomizations {
		rel, _ := filepath.Rel(repoRoot, dir)
		t.Run(rel+"/kustomization.yaml", func(t *testing.T) {
			out, err := cmdoutput.Stdout(exec.CommandContext(ctx, kubectl, "kustomize", dir))
			if err != nil {
				t.Fatal(err)
			}
			docs, err := yamldocs.Parse("kubectl kustomize "+rel, out)
			if err != nil {
				t.Fatal(err)
			}
			// No default namespace: what a kustomization renders must name its own.
			own := dryRun
			own.DefaultNamespace = ""
			if err := serverapply.Objects(ctx, cp.RESTConfig(), docObjects(docs), own); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestManifestDryRunRefusesBadFields: the dry run above can fail. A misspelled field and
// wrongly typed ones in the Knative Service, Trigger and RBAC manifests are refused by the API server,
// naming the field (so at least these CRDs' schemas are enforced without Knative's webhooks;
// a Trigger's spec preserves unknown fields, so there only a wrong type is refused).
func TestManifestDryRunRefusesBadFields(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cp.EnsureNamespace(ctx, "nbv-system"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, kind string
		path       []string
		value      any
	}{
		{"config/functions/services.yaml", "Service", []string{"spec", "template", "spec", "containerConcurency"}, int64(20)},
		{"config/functions/services.yaml", "Service", []string{"spec", "template", "spec", "timeoutSeconds"}, "sixty"},
		// Trigger's spec preserves unknown fields (Knative's webhook refuses typos, not the
		// schema), so only a wrong type is the API server's to refuse.
		{"config/broker/triggers.yaml", "Trigger", []string{"spec", "broker"}, int64(5)},
		{"config/rbac/functions.yaml", "ClusterRole", []string{"rules"}, "everything"},
	} {
		field := strings.Join(tc.path, ".")
		t.Run(tc.kind+"."+field, func(t *testing.T) {
			docs, err := yamldocs.ReadFile(filepath.Join(repoRoot, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var obj *unstructured.Unstructured
			for _, d := range docs {
				if d.Object.GetKind() == tc.kind {
					obj = d.Object.DeepCopy()
					break
				}
			}
			if obj == nil {
				t.Fatalf("no %s in %s", tc.kind, tc.file)
			}
			if err := unstructured.SetNestedField(obj.Object, tc.value, tc.path...); err != nil {
				t.Fatal(err)
			}
			err = serverapply.Objects(ctx, cp.RESTConfig(), []*unstructured.Unstructured{obj},
				serverapply.Options{FieldManager: "nbv-dry-run", DryRun: true})
			if err == nil {
				t.Fatalf("%s with %s=%v accepted", tc.kind, field, tc.value)
			}
			// Refused by the API server itself (kube-apiserver answers a server-side apply whose
			// fields do not fit the schema with 500 "failed to create typed patch object").
			last := tc.path[len(tc.path)-1]
			var status apierrors.APIStatus
			if !errors.As(err, &status) || !strings.Contains(err.Error(), last) {
				t.Errorf("refusal %v is not the API server's, naming %s", err, last)
			}
		})
	}
}

func docObjects(docs []yamldocs.Doc) []*unstructured.Unstructured {
	objs := make([]*unstructured.Unstructured, 0, len(docs))
	for _, d := range docs {
		objs = append(objs, d.Object)
	}
	return objs
}

// TestKoReferencesBuild: every ko:// image in config/ and eventsources/ names a main package of
// this module, and those packages build.
func TestKoReferencesBuild(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	files, _ := manifestFiles(t)
	refs := map[string][]string{} // import path -> files naming it
	for _, path := range files {
		docs, err := yamldocs.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repoRoot, path)
		for _, d := range docs {
			for _, s := range koStrings(d.Object.Object) {
				refs[strings.TrimPrefix(s, "ko://")] = append(refs[strings.TrimPrefix(s, "ko://")], rel)
			}
		}
	}
	if len(refs) == 0 {
		t.Fatal("no ko:// reference found: the functions' images are not built by ko")
	}
	var pkgs []string
	for p, where := range refs {
		if !strings.HasPrefix(p, "github.com/mlops-dev/nbv/") {
			t.Errorf("ko://%s (in %v) is not a package of this module", p, where)
			continue
		}
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	list := exec.CommandContext(ctx, "go", append([]string{"list", "-f", "{{.ImportPath}} {{.Name}}"}, pkgs...)...)
	list.Dir = repoRoot
	out, err := cmdoutput.Stdout(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, name, _ := strings.Cut(line, " ")
		if name != "main" {
			t.Errorf("ko://%s (in %v) is package %s, not a command", path, refs[path], name)
		}
	}
	build := exec.CommandContext(ctx, "go", append([]string{"build", "-o", t.TempDir() + "/"}, pkgs...)...)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
	t.Logf("ko references build: %v", pkgs)
}

// koStrings returns every string value of v beginning with ko://.
func koStrings(v any) []string {
	switch v := v.(type) {
	case string:
		if strings.HasPrefix(v, "ko://") {
			return []string{v}
		}
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, koStrings(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, koStrings(e)...)
		}
		return out
	}
	return nil
}
