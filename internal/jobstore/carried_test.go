package jobstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// The patch of a write decided from an event's copy holds every part of the job a decision
// reads to the copy's value (absent parts to null, which the API server's test takes as
// absent), then sets the whole status.
func TestCopyPatchChecksWhatTheDecisionRead(t *testing.T) {
	obj := map[string]any{
		"metadata": map[string]any{"name": "nb", "namespace": "ns", "uid": "u1", "resourceVersion": "42", "generation": float64(1),
			"annotations": map[string]any{"a": "b"}},
		"spec": map[string]any{"notebook": map[string]any{"path": "x.ipynb"}},
	}
	job := &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "ns", ResourceVersion: "42"}}
	body, err := copyPatch(Carried{Job: job, Object: obj}, v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseInitializing})
	if err != nil {
		t.Fatal(err)
	}
	var ops []struct {
		Op, Path string
		Value    any
	}
	if err := json.Unmarshal(body, &ops); err != nil {
		t.Fatal(err)
	}
	tests := map[string]any{}
	for _, o := range ops[:len(ops)-1] {
		if o.Op != "test" {
			t.Fatalf("op %s %s before the write, want only tests", o.Op, o.Path)
		}
		tests[o.Path] = o.Value
	}
	for path, want := range map[string]any{"/metadata/resourceVersion": "42", "/metadata/uid": "u1", "/metadata/labels": nil, "/status": nil} {
		if got, ok := tests[path]; !ok || got != want {
			t.Errorf("test of %s: %v (present %v), want %v", path, got, ok, want)
		}
	}
	if spec, _ := tests["/spec"].(map[string]any); spec["notebook"] == nil {
		t.Errorf("test of /spec is %v, want the copy's spec", tests["/spec"])
	}
	last := ops[len(ops)-1]
	if st, _ := last.Value.(map[string]any); last.Op != "add" || last.Path != "/status" || st["phase"] != v1alpha1.PhaseInitializing {
		t.Errorf("last op %s %s %v, want add /status with the decided status", last.Op, last.Path, last.Value)
	}
	if _, err := copyPatch(Carried{Job: &v1alpha1.NotebookValidationJob{}, Object: obj}, v1alpha1.NotebookValidationJobStatus{}); err == nil {
		t.Error("a copy without a resourceVersion made a patch, want an error")
	}
}

// Any 422 refuses a copy's write, reported as ErrStaleCopy (read fresh and decide again): the
// API server tells a failed test operation by no detail. Other refusals are not.
func TestRefusedCopyIsUnprocessable(t *testing.T) {
	refused := apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", "testing value /status failed: test failed", 0, false)
	if !refusedCopy(fmt.Errorf("patch: %w", refused)) {
		t.Error("a failed test operation was not recognised")
	}
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "notebookvalidationjobs"}, "nb", errors.New("changed"))
	if refusedCopy(conflict) || refusedCopy(errors.New("unprocessable")) {
		t.Error("another error was taken for a refused copy")
	}
}
