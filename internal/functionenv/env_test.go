package functionenv

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBuildSettings(t *testing.T) {
	t.Setenv("NBV_TEKTON_BUILDER_IMAGE", "registry.example.com/buildah:1")
	t.Setenv("NBV_TEKTON_OUTPUT_IMAGE", "registry.example.com/{namespace}/{name}:{uid}")
	t.Setenv("NBV_TEKTON_GIT_IMAGE", "")
	t.Setenv("NBV_S2I_OUTPUT_IMAGE", "")
	// As a ConfigMap holds them: one a line, with blank lines, spaces and commas tolerated.
	t.Setenv("NBV_TEKTON_ALLOWED_BUILDER_IMAGES", "registry.example.com/buildah:2\n\n  registry.example.com/kaniko:1,registry.example.com/kaniko:2\n")
	t.Setenv("NBV_TEKTON_ALLOWED_GIT_IMAGES", "")
	b, err := loadBuildSettings()
	if err != nil {
		t.Fatal(err)
	}
	want := BuildSettings{TektonBuilderImage: "registry.example.com/buildah:1", TektonOutputImage: "registry.example.com/{namespace}/{name}:{uid}",
		TektonAllowedBuilderImages: []string{"registry.example.com/buildah:2", "registry.example.com/kaniko:1", "registry.example.com/kaniko:2"}}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("settings %+v, want %+v", b, want)
	}

	// An allowlist entry that is no image reference fails the deployment at start, naming it.
	t.Setenv("NBV_TEKTON_ALLOWED_GIT_IMAGES", "registry.example.com/git:1 `id`")
	if _, err := loadBuildSettings(); err == nil || !strings.Contains(err.Error(), "NBV_TEKTON_ALLOWED_GIT_IMAGES") {
		t.Errorf("bad allowlist entry accepted or not named: %v", err)
	}
	t.Setenv("NBV_TEKTON_ALLOWED_GIT_IMAGES", "")

	// A value that could break out of a shell word fails the deployment at start, naming it.
	t.Setenv("NBV_S2I_OUTPUT_IMAGE", "registry.example.com/x:$(id)")
	if _, err := loadBuildSettings(); err == nil || !strings.Contains(err.Error(), "NBV_S2I_OUTPUT_IMAGE") {
		t.Errorf("bad image accepted or not named: %v", err)
	}
}

func TestRequireRunnerImage(t *testing.T) {
	if err := RequireRunnerImage("job-created", Settings{}); err == nil || !strings.Contains(err.Error(), "NBV_RUNNER_IMAGE") {
		t.Errorf("no runner image: %v, want an error naming NBV_RUNNER_IMAGE", err)
	}
	s := Settings{}
	s.Pod.RunnerImage = "registry.example.com/nbv-runner:1"
	if err := RequireRunnerImage("job-created", s); err != nil {
		t.Errorf("with a runner image: %v", err)
	}
}

// A function's client is not throttled to client-go's default of 5 requests a second.
func TestLoadLiftsClientThrottle(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBECONFIG", kubeconfig)
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.Kube.QPS != ClientQPS || s.Kube.Burst != ClientBurst {
		t.Errorf("client QPS %v burst %d, want %v and %d", s.Kube.QPS, s.Kube.Burst, ClientQPS, ClientBurst)
	}
}

func TestArtifactSettings(t *testing.T) {
	t.Setenv("NBV_ARTIFACT_REPOSITORY", "127.0.0.1:5000/nbv-runs\n")
	t.Setenv("NBV_ARTIFACT_PUSH_SECRET", "nbv-registry-push")
	t.Setenv("NBV_ARTIFACT_INSECURE", "true")
	a, err := loadArtifactSettings()
	if err != nil || a.Repository != "127.0.0.1:5000/nbv-runs" || a.Secret != "nbv-registry-push" || !a.Insecure {
		t.Fatalf("%+v, %v", a, err)
	}
	if got := a.ArtifactRepository("team-a"); got != "127.0.0.1:5000/nbv-runs/team-a" {
		t.Errorf("repository of team-a: %s", got)
	}
	for env, bad := range map[string]string{
		"NBV_ARTIFACT_REPOSITORY":  "registry.example.com/x@sha256:00",
		"NBV_ARTIFACT_PUSH_SECRET": "Not_A_Secret",
		"NBV_ARTIFACT_INSECURE":    "maybe",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, bad)
			if _, err := loadArtifactSettings(); err == nil || !strings.Contains(err.Error(), env) {
				t.Errorf("%s=%q: %v", env, bad, err)
			}
		})
	}
	t.Setenv("NBV_ARTIFACT_REPOSITORY", "")
	t.Setenv("NBV_ARTIFACT_PUSH_SECRET", "")
	t.Setenv("NBV_ARTIFACT_INSECURE", "")
	if a, err := loadArtifactSettings(); err != nil || a.Repository != "" {
		t.Errorf("unset: %+v, %v", a, err)
	}
}
