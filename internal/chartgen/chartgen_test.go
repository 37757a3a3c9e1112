package chartgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChartIsUpToDate fails when charts/nbv's generated files differ from what config/ and
// eventsources/ generate now (someone edited config/ without `go run ./hack/chartgen`, or
// edited the chart by hand).
func TestChartIsUpToDate(t *testing.T) {
	root := filepath.Join("..", "..")
	chart, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "charts", "nbv")
	for rel, want := range chart.Files {
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || string(got) != string(want) {
			t.Errorf("charts/nbv/%s is stale: run go run ./hack/chartgen", rel)
		}
	}
	for _, d := range GeneratedDirs {
		_ = filepath.WalkDir(filepath.Join(dir, d), func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				if _, ok := chart.Files[filepath.ToSlash(rel)]; !ok {
					t.Errorf("charts/nbv/%s is no longer generated: run go run ./hack/chartgen", rel)
				}
			}
			return nil
		})
	}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, text := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestRefusesWhatWouldDiffer: a kustomization feature the generator does not implement, a
// source that Helm would read as a template, and a function without the settings the values
// replace are errors naming the file, never a chart that silently differs from config/.
func TestRefusesWhatWouldDiffer(t *testing.T) {
	service := func(extra string) string {
		return `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: fn
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "0"
` + extra
	}
	for _, tc := range []struct {
		name, kustomization, manifest, want string
	}{
		{"patches", "resources: [a.yaml]\npatches: [{path: p.yaml}]\n", "kind: ConfigMap\nmetadata: {name: a}\n", "only apiVersion, kind, namespace and resources"},
		{"template action", "resources: [a.yaml]\n", "kind: ConfigMap\nmetadata: {name: a}\ndata: {x: '{{ .Values.x }}'}\n", "template action"},
		{"not an object", "resources: [a.yaml]\n", "- a\n- b\n", "is not an object"},
		{"no max-scale", "resources: [a.yaml]\n", service(""), "no autoscaling.knative.dev/max-scale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{"k/kustomization.yaml": tc.kustomization, "k/a.yaml": tc.manifest})
			files, err := ReadKustomization(root, "k")
			if err == nil {
				_, err = (&templater{}).file(files[0])
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestValueKey(t *testing.T) {
	for in, want := range map[string]string{"job-created": "jobCreated", "build-status-changed": "buildStatusChanged", "sweep": "sweep"} {
		if got := valueKey(in); got != want {
			t.Errorf("valueKey(%q) = %q, want %q", in, got, want)
		}
	}
}
