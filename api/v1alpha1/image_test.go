package v1alpha1_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/schemas"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestImageReferencePattern(t *testing.T) {
	re := regexp.MustCompile(v1alpha1.ImageReferencePattern)
	good := []string{
		"quay.io/jupyter/minimal-notebook:latest",
		"python:3.11",
		"host-python3",
		"docker.io/library/ubuntu",
		"localhost:5000/ml/train",
		"registry.example.com:443/team-a/nb@" + digest,
		"registry.example/nb:v1@" + digest,
		"[::1]:5000/img:tag",
		"ghcr.io/a__b/c-d.e/f---g:TAG_1.0-x",
		"REGISTRY.Example.com/x",
		"a/b:" + strings.Repeat("t", 128),
	}
	bad := []string{
		"",
		"quay.io/x:latest ",
		" quay.io/x:latest",
		"quay.io/x:latest\n",
		"quay.io/x\t",
		"quay.io/X/Upper",
		"quay.io/x:",
		"quay.io/x:-tag",
		"quay.io/x@sha256:0123",
		"quay.io/x@" + strings.TrimPrefix(digest, "sha256:"),
		"quay.io//x",
		"quay.io/x/",
		"-registry/x",
		"registry-/x",
		"x:tag with space",
		"a/b:" + strings.Repeat("t", 129),
		"$(id)/x",
		"quay.io/x;rm -rf /",
		"quay.io/x:latest\x00",
		"quay.io/x:1 @" + digest,
	}
	for _, ref := range good {
		if !re.MatchString(ref) {
			t.Errorf("%q must be accepted", ref)
		}
	}
	for _, ref := range bad {
		if re.MatchString(ref) {
			t.Errorf("%q must be refused", ref)
		}
	}
}

func TestEnvVarNamePatternIsTheAPIServers(t *testing.T) {
	re := regexp.MustCompile(v1alpha1.EnvVarNamePattern)
	for _, name := range []string{"HOME", "my.var-1", "_x", "-x", ".x", "1BAD", "1 BAD=", "A B", "A=B", "", "ü", "a\nb"} {
		want := len(validation.IsEnvVarName(name)) == 0
		if got := re.MatchString(name); got != want {
			t.Errorf("%q: pattern says %v, the API server's rule %v", name, got, want)
		}
	}
}

// TestSchemasCarryTheSharedPatterns: the CRD and the build-report schema check images (and the
// CRD env names) with exactly the patterns of package v1alpha1, so what one accepts the other
// does too.
func TestSchemasCarryTheSharedPatterns(t *testing.T) {
	data, err := os.ReadFile("../../config/crd/mlops.mlops.dev_notebookvalidationjobs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &crd); err != nil {
		t.Fatal(err)
	}
	podConfig := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["podConfig"]
	for field, s := range map[string]apiextensionsv1.JSONSchemaProps{
		"spec.podConfig.containerImage":        podConfig.Properties["containerImage"],
		"spec.podConfig.buildConfig.baseImage": podConfig.Properties["buildConfig"].Properties["baseImage"],
	} {
		if s.Pattern != v1alpha1.ImageReferencePattern {
			t.Errorf("CRD %s pattern %q, want v1alpha1.ImageReferencePattern", field, s.Pattern)
		}
	}
	if env := podConfig.Properties["env"].Items.Schema.Properties["name"]; env.Pattern != v1alpha1.EnvVarNamePattern {
		t.Errorf("CRD spec.podConfig.env[].name pattern %q, want v1alpha1.EnvVarNamePattern", env.Pattern)
	}

	raw, err := schemas.FS.ReadFile("dev.mlops.notebookvalidationjob.build.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Properties struct {
			Image struct {
				AnyOf []struct {
					Pattern string `json:"pattern"`
				} `json:"anyOf"`
			} `json:"image"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatal(err)
	}
	patterns := []string{}
	for _, a := range report.Properties.Image.AnyOf {
		if a.Pattern != "" {
			patterns = append(patterns, a.Pattern)
		}
	}
	if len(patterns) != 1 || patterns[0] != v1alpha1.ImageReferencePattern {
		t.Errorf("build report image patterns %q, want exactly v1alpha1.ImageReferencePattern", patterns)
	}
}
