package knservice

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadDirReadsTheFunctions(t *testing.T) {
	fns, err := LoadDir(filepath.Join("..", "..", "..", "config", "functions"))
	if err != nil {
		t.Fatal(err)
	}
	f, ok := fns["job-created"]
	if !ok {
		t.Fatalf("job-created not loaded; have %v", fns)
	}
	if f.ServiceAccountName != "nbv-job-created" || f.Namespace != "nbv-system" || f.ReadinessPath != "/readyz" {
		t.Errorf("job-created = %+v", f)
	}
	if f.ContainerConcurrency <= 0 || f.TimeoutSeconds <= 0 || f.MaxScale <= 0 {
		t.Errorf("job-created scaling = %+v, want the manifest's positive values", f)
	}
	if pkg, err := f.Package(); err != nil || pkg != "github.com/mlops-dev/nbv/functions/job-created" {
		t.Errorf("Package() = %q, %v", pkg, err)
	}
	names := map[string]bool{}
	for _, e := range f.Env {
		names[e.Name] = true
	}
	if !names["NBV_RUNNER_IMAGE"] {
		t.Errorf("job-created env %v lacks NBV_RUNNER_IMAGE", f.Env)
	}
}

func TestLoadDirRefusesInvalidServices(t *testing.T) {
	base := `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: f
  annotations: {}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/max-scale: "%s"
    spec:
      containerConcurrency: 3
      %s
      containers:
        - image: ko://example.com/f
`
	for name, c := range map[string]struct{ maxScale, extra, want string }{
		"misspelled field": {"2", "serviceAcountName: x", "serviceAcountName"},
		"bad max-scale":    {"two", "", "max-scale"},
		"negative timeout": {"2", "timeoutSeconds: -1", "timeoutSeconds"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			doc := strings.Replace(strings.Replace(base, "%s", c.maxScale, 1), "%s", c.extra, 1)
			if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadDir(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("LoadDir = %v, want an error naming %q", err, c.want)
			}
		})
	}
}
