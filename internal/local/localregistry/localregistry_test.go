package localregistry

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/artifact"
)

// The registry `make registry` builds runs on loopback, asks for its login, and serves the
// run record pushed with it.
func TestRegistryWantsItsLoginAndServesRecords(t *testing.T) {
	if _, err := os.Stat(Binary()); err != nil {
		t.Skipf("no registry binary (make registry): %v", err)
	}
	ctx := context.Background()
	r, err := Start(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if !strings.HasPrefix(r.Host, "127.0.0.1:") {
		t.Errorf("registry on %s, not loopback", r.Host)
	}
	resp, err := http.Get("http://" + r.Host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous /v2/: %d, want 401", resp.StatusCode)
	}

	run := t.TempDir()
	if err := os.WriteFile(filepath.Join(run, "report.html"), []byte("<p>ok</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	login := t.TempDir()
	if err := os.WriteFile(filepath.Join(login, "config.json"), r.DockerConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	o := artifact.Options{Keychain: artifact.DockerConfigKeychain(login)}
	p, err := artifact.Push(ctx, run, r.Repository()+"/team-a:pod-1", o)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := artifact.Pull(ctx, p.Reference, out, o); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "report.html")); err != nil || string(b) != "<p>ok</p>" {
		t.Errorf("pulled %q, %v", b, err)
	}
	if _, err := artifact.Pull(ctx, p.Reference, t.TempDir(), artifact.Options{}); err == nil {
		t.Error("pulled without the login")
	}
}
