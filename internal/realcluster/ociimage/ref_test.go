package ociimage

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestRefFor(t *testing.T) {
	for _, tc := range []struct{ importPath, want string }{
		{"knative.dev/eventing/cmd/controller", "local.test/eventing-cmd-controller:e2e"},
		{"knative.dev/serving/cmd/controller", "local.test/serving-cmd-controller:e2e"},
		{"knative.dev/eventing/cmd/in_memory/channel_controller", "local.test/eventing-cmd-in-memory-channel-controller:e2e"},
		{"github.com/mlops-dev/nbv/functions/job-created", "local.test/mlops-dev-nbv-functions-job-created:e2e"},
		{"github.com/mlops-dev/nbv/cmd/nbv-runner", "local.test/mlops-dev-nbv-cmd-nbv-runner:e2e"},
		{"example.test/Upper/Case.Name/", "local.test/upper-case-name:e2e"},
		{"github.com/traefik/traefik/v3/cmd/traefik", "local.test/traefik-traefik-v3-cmd-traefik:e2e"},
		{"hello", "local.test/hello:e2e"},
		{"", "local.test/ko-app:e2e"},
		{"__/--", "local.test/ko-app:e2e"},
	} {
		got := RefFor(tc.importPath)
		if got != tc.want {
			t.Errorf("RefFor(%q) = %q, want %q", tc.importPath, got, tc.want)
		}
		if _, err := name.NewTag(got, name.StrictValidation); err != nil {
			t.Errorf("RefFor(%q) = %q is not a valid ref: %v", tc.importPath, got, err)
		}
	}
}

func TestArchiveFileNamesDistinctRefsApart(t *testing.T) {
	if a, b := archiveFile("local.test/pause:1"), archiveFile("local.test/pause:2"); a == b {
		t.Errorf("two refs share the tar %s", a)
	}
	if got := archiveFile(PauseRef); got != "local.test_pause_1.tar" {
		t.Errorf("archiveFile(%q) = %q", PauseRef, got)
	}
}
