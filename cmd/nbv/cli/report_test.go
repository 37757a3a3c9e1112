package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/internal/artifact"
	"github.com/mlops-dev/nbv/internal/runner/execute"
)

// `nbv validate --push` pushes the run's files as the cluster's publish sidecar does; pulled
// back, they are byte for byte what the run wrote.
func TestValidatePushRoundTrips(t *testing.T) {
	if err := exec.Command(execute.DefaultPython, "-c", "import nbclient, ipykernel").Run(); err != nil {
		t.Skipf("%s lacks nbclient/ipykernel: %v", execute.DefaultPython, err)
	}
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := t.TempDir()
	code, _, stderr := runCLI(ctx, "validate", "../../../test/fixtures/notebooks/compute.ipynb", "--out", out, "--push", host+"/laptop/compute:run1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	ref := regexp.MustCompile(`as (` + regexp.QuoteMeta(host) + `/laptop/compute@sha256:[0-9a-f]{64})`).FindStringSubmatch(stderr)
	if ref == nil {
		t.Fatalf("no digest reference printed:\n%s", stderr)
	}
	back := t.TempDir()
	if _, err := artifact.Pull(ctx, ref[1], back, artifact.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range artifact.Files {
		want, err := os.ReadFile(filepath.Join(out, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(back, f.Name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs after the round trip (%v)", f.Name, err)
		}
	}
}

func TestJobArtifactSaysWhyThereIsNone(t *testing.T) {
	job := func(status map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
		u.SetNamespace("team-a")
		u.SetName("demo")
		return u
	}
	for _, c := range []struct {
		status map[string]any
		want   string
	}{
		{map[string]any{"phase": "Succeeded", "artifact": map[string]any{"reference": "r/x@sha256:00"}}, ""},
		{map[string]any{"phase": "Succeeded", "artifact": map[string]any{"message": "pushing failed: 401"}}, "has no record: pushing failed: 401"},
		{map[string]any{"phase": "ValidationRunning"}, "has not finished"},
		{map[string]any{"phase": "Succeeded"}, "nbv-system/nbv-artifacts"},
	} {
		ref, err := jobArtifact(job(c.status))
		if c.want == "" && (err != nil || ref == "") || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: %q, %v; want %q", c.status, ref, err, c.want)
		}
	}
}
