package localstack

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/internal/local/knservice"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// TestFunctionEnvIsTheManifestsPlusTheTable: a replacing rule applies only to a variable the
// manifest sets (a missing one stays missing, as on a cluster), additions are listed, and
// nothing comes from this process's environment.
func TestFunctionEnvIsTheManifestsPlusTheTable(t *testing.T) {
	t.Setenv("HOME_OF_THE_TEST", "must not leak")
	o := Options{Namespace: "team-a", Pod: validationpod.Options{RunnerImage: "host-runner"}}
	withImage := knservice.Function{Name: "job-created", Env: []corev1.EnvVar{
		{Name: "NBV_DRAIN_TIMEOUT", Value: "30s"}, {Name: "NBV_RUNNER_IMAGE", Value: "ko://example.com/runner"}}}
	env, applied := functionEnv(o, withImage, "/tmp/kc")
	want := []string{"NBV_DRAIN_TIMEOUT=30s", "NBV_RUNNER_IMAGE=host-runner", "KUBECONFIG=/tmp/kc",
		"K_SERVICE=job-created", "K_CONFIGURATION=job-created", "K_REVISION=job-created-00001"}
	if !slices.Equal(env, want) {
		t.Errorf("env = %v, want %v", env, want)
	}
	if len(applied) != 5 || applied[0].Name != "NBV_RUNNER_IMAGE" || applied[0].Manifest != "ko://example.com/runner" {
		t.Errorf("applied = %+v, want the runner image replacement listed first, with the manifest's value", applied)
	}

	withoutImage := knservice.Function{Name: "sweep", Env: []corev1.EnvVar{{Name: "NBV_DRAIN_TIMEOUT", Value: "30s"}}}
	env, _ = functionEnv(o, withoutImage, "/tmp/kc")
	if slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "NBV_RUNNER_IMAGE=") }) {
		t.Errorf("env %v has NBV_RUNNER_IMAGE though the manifest does not set it", env)
	}
	if !slices.Contains(env, "NBV_SWEEP_NAMESPACE=team-a") {
		t.Errorf("sweep env %v is not confined to the stack's namespace", env)
	}
	if slices.ContainsFunc(env, func(kv string) bool { return strings.Contains(kv, "OTLP_ENDPOINT=") }) {
		t.Errorf("env %v has an OTLP endpoint though the stack has none", env)
	}
	o.OTLPEndpoint = "http://127.0.0.1:4318"
	env, _ = functionEnv(o, withoutImage, "/tmp/kc")
	for _, kv := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "NBV_POD_OTLP_ENDPOINT=http://127.0.0.1:4318"} {
		if !slices.Contains(env, kv) {
			t.Errorf("env %v lacks %s", env, kv)
		}
	}
	for _, kv := range env {
		if kv == "HOME_OF_THE_TEST=must not leak" {
			t.Errorf("this process's environment leaked into the function's: %v", env)
		}
	}
}
