package integration

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/localstack"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// TestMissingEnvBreaksLocally: a Knative Service that lacks an environment variable its
// function needs fails in the local stack as its revision would on a cluster: the instance
// never becomes ready, and the event is answered with a retryable 503 naming the variable
// (never silently filled in by the stack).
func TestMissingEnvBreaksLocally(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := newNamespace(t, ctx, cp)

	// A repository root whose config/functions lacks job-created's NBV_RUNNER_IMAGE; the
	// rest is the real one.
	root := t.TempDir()
	for _, p := range []string{"eventsources", "config/namespace.yaml", "config/rbac", "config/broker"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(repoRoot, p), filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	services, err := os.ReadFile(filepath.Join(repoRoot, "config", "functions", "services.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const runnerEnv = "            - name: NBV_RUNNER_IMAGE\n              value: ko://github.com/mlops-dev/nbv/cmd/nbv-runner\n"
	if !strings.Contains(string(services), "name: job-created\n") || !strings.Contains(string(services), runnerEnv) {
		t.Fatalf("config/functions/services.yaml changed shape; update this test's edit")
	}
	edited := strings.Replace(string(services), runnerEnv, "", 1) // job-created is the first Service
	if err := os.MkdirAll(filepath.Join(root, "config", "functions"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "config", "functions", "services.yaml"), []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}

	stack, err := localstack.Start(ctx, localstack.Options{Config: cp.RESTConfig(), RepoRoot: root, Namespace: ns,
		FunctionsDir: functionsDir, Pod: validationpod.Options{RunnerImage: testRunnerImage}, PingInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range stack.Overrides {
		if o.Function == "job-created" && o.Name == "NBV_RUNNER_IMAGE" {
			t.Errorf("the stack supplied NBV_RUNNER_IMAGE to job-created though its Service does not set it: %+v", o)
		}
	}

	ev := resourceEvent(ns, v1alpha1.SchemeGroupVersion.String(), v1alpha1.Kind, "any", "")
	body, err := ev.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(stack.FunctionURLs["job-created"], "application/cloudevents+json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(answer), "NBV_RUNNER_IMAGE") {
		t.Errorf("job-created without NBV_RUNNER_IMAGE answered %d %q, want 503 naming the variable", resp.StatusCode, answer)
	}
	if err := stack.Stop(ctx); err == nil || !strings.Contains(err.Error(), "NBV_RUNNER_IMAGE") {
		t.Errorf("stack stop: %v, want the failed start reported, naming NBV_RUNNER_IMAGE", err)
	}
}
