package v1alpha1_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// wantSamples names the sample manifests the API promises to accept; a missing file fails.
var wantSamples = []string{
	"basic.yaml", "golden.yaml", "tekton-build.yaml", "s2i-build.yaml",
	"external-build.yaml", "private-repo.yaml", "volumes-scheduling.yaml", "model-validation-kserve.yaml",
}

// TestSamplesRoundTrip decodes every sample strictly (an unknown field fails) into the Go types
// and encodes it back: the result must hold every field of the manifest with the same value.
func TestSamplesRoundTrip(t *testing.T) {
	files, err := filepath.Glob("../../config/samples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		seen[filepath.Base(f)] = true
	}
	for _, name := range wantSamples {
		if !seen[name] {
			t.Errorf("sample %s is missing from config/samples", name)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			original, err := yaml.YAMLToJSON(raw)
			if err != nil {
				t.Fatalf("sample is not YAML: %v", err)
			}
			dec := json.NewDecoder(bytes.NewReader(original))
			dec.DisallowUnknownFields()
			var job v1alpha1.NotebookValidationJob
			if err := dec.Decode(&job); err != nil {
				t.Fatalf("sample does not decode into NotebookValidationJob: %v", err)
			}
			if job.Kind != v1alpha1.Kind || job.APIVersion != v1alpha1.SchemeGroupVersion.String() {
				t.Fatalf("sample is %s %s, want %s", job.APIVersion, job.Kind, v1alpha1.GroupVersionKind)
			}
			encoded, err := json.Marshal(&job)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(original, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(encoded, &got); err != nil {
				t.Fatal(err)
			}
			for _, problem := range lostFields(want, got, crdSchema(t), "") {
				t.Error(problem)
			}
		})
	}
}

// crdSchema returns the generated CRD's openAPIV3Schema as generic JSON.
func crdSchema(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("../../config/crd/mlops.mlops.dev_notebookvalidationjobs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil || len(crd.Spec.Versions) != 1 {
		t.Fatalf("read CRD: %v", err)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema
}

// lostFields reports every field of want that got lacks or holds with another value. A field
// may only be left out when it held its zero value and the schema gives it no other default,
// so leaving it out cannot change its meaning. Fields only got has must be empty.
func lostFields(want, got any, schema map[string]any, path string) []string {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if !wok || !gok {
		wl, wok := want.([]any)
		gl, gok := got.([]any)
		if wok && gok && len(wl) == len(gl) {
			var out []string
			items, _ := schema["items"].(map[string]any)
			for i := range wl {
				out = append(out, lostFields(wl[i], gl[i], items, fmt.Sprintf("%s[%d]", path, i))...)
			}
			return out
		}
		if diff := cmp.Diff(want, got); diff != "" {
			return []string{fmt.Sprintf("%s changed (-sample +round-trip):\n%s", path, diff)}
		}
		return nil
	}
	props, _ := schema["properties"].(map[string]any)
	var out []string
	for k, wv := range wm {
		sub, _ := props[k].(map[string]any)
		if sub == nil {
			sub, _ = schema["additionalProperties"].(map[string]any)
		}
		gv, present := gm[k]
		if !present {
			if def, hasDefault := sub["default"]; reflect.ValueOf(wv).IsZero() && (!hasDefault || reflect.DeepEqual(def, wv)) {
				continue
			}
			out = append(out, fmt.Sprintf("%s.%s = %v was lost", path, k, wv))
			continue
		}
		out = append(out, lostFields(wv, gv, sub, path+"."+k)...)
	}
	for k, gv := range gm {
		if _, inWant := wm[k]; !inWant && !isEmpty(gv) {
			out = append(out, fmt.Sprintf("%s.%s = %v appeared", path, k, gv))
		}
	}
	return out
}

// isEmpty is true for the nulls and empty objects that encoding adds for unset structs
// (metadata.creationTimestamp, status).
func isEmpty(v any) bool {
	m, ok := v.(map[string]any)
	return v == nil || (ok && len(m) == 0)
}
