package tekton

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build"
)

// strictJSON decodes data into out, refusing fields out's type does not have.
func strictJSON(t *testing.T, data []byte, out any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(out); err != nil {
		t.Fatalf("decode into %T: %v\n%s", out, err, data)
	}
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tektonRun is NewPipelineRun as Tekton reads it: every field set must exist in Tekton's own
// PipelineRun with the same JSON name and type, and survive the trip back unchanged.
func tektonRun(t *testing.T, job *v1alpha1.NotebookValidationJob, name string, opts Options) (*pipelinev1.PipelineRun, error) {
	t.Helper()
	pr, err := NewPipelineRun(job, name, opts)
	if err != nil {
		return nil, err
	}
	ours := marshal(t, pr)
	var real pipelinev1.PipelineRun
	strictJSON(t, ours, &real)
	// encoding/json matches names regardless of case, the API server does not: every key and
	// value we wrote must come back spelt the same (Tekton adds its empty defaults, such as
	// "computeResources": {}, which is fine).
	var oursTree, theirsTree any
	if err := json.Unmarshal(ours, &oursTree); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(marshal(t, &real), &theirsTree); err != nil {
		t.Fatal(err)
	}
	if path, ok := within(oursTree, theirsTree, ""); !ok {
		t.Fatalf("PipelineRun field %s changed through Tekton's types:\nours   %s\ntekton %s", path, ours, marshal(t, &real))
	}
	return &real, nil
}

// within reports whether every key and value of ours is in theirs, and else the first path
// where they differ.
func within(ours, theirs any, path string) (string, bool) {
	switch o := ours.(type) {
	case map[string]any:
		th, ok := theirs.(map[string]any)
		if !ok {
			return path, false
		}
		for k, v := range o {
			if p, ok := within(v, th[k], path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		th, ok := theirs.([]any)
		if !ok || len(th) != len(o) {
			return path, false
		}
		for i := range o {
			if p, ok := within(o[i], th[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, reflect.DeepEqual(ours, theirs)
}

// observeTekton observes a PipelineRun written with Tekton's own types, as the API server
// would hand it over.
func observeTekton(t *testing.T, real *pipelinev1.PipelineRun) build.Observed {
	t.Helper()
	var pr PipelineRun
	if err := json.Unmarshal(marshal(t, real), &pr); err != nil {
		t.Fatal(err)
	}
	return Observe(&pr)
}

func TestNamesAreTektons(t *testing.T) {
	if APIVersion != pipelinev1.SchemeGroupVersion.String() || GVR.GroupVersion() != pipelinev1.SchemeGroupVersion {
		t.Errorf("apiVersion %s, GVR %v; Tekton's is %s", APIVersion, GVR, pipelinev1.SchemeGroupVersion)
	}
	for ours, theirs := range map[string]pipelinev1.PipelineRunReason{
		ReasonPending: pipelinev1.PipelineRunReasonPending, ReasonResolvingPipelineRef: pipelinev1.PipelineRunReasonResolvingPipelineRef,
		ReasonTimedOut: pipelinev1.PipelineRunReasonTimedOut, ReasonCancelled: pipelinev1.PipelineRunReasonCancelled,
	} {
		if ours != string(theirs) {
			t.Errorf("reason %q, Tekton's %q", ours, theirs)
		}
	}
	if string(pipelinev1.ParamTypeString) != "string" || string(pipelinev1.ResultsTypeString) != "string" {
		t.Error("Tekton's string type is no longer \"string\"")
	}
}

// A user's Pipeline may emit array and object results besides ours: they do not stop the
// image from being read.
func TestNonStringResultsAreSkipped(t *testing.T) {
	data := []byte(`{"metadata":{"name":"x"},"status":{"conditions":[{"type":"Succeeded","status":"True","reason":"Succeeded"}],
		"results":[{"name":"LIST","value":["a","b"]},{"name":"OBJ","value":{"k":"v"}},{"name":"IMAGE_URL","value":"q.io/a/b:t"}]}}`)
	var real pipelinev1.PipelineRun
	strictJSON(t, data, &real)
	if o := observeTekton(t, &real); o.State != build.StateSucceeded || o.Image != "q.io/a/b:t" {
		t.Errorf("observed %+v, want succeeded with q.io/a/b:t", o)
	}
}
