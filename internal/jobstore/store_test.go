package jobstore

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statustext"
)

func storedJob() *v1alpha1.NotebookValidationJob {
	start := metav1.NewTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "iris", Namespace: "team-a", UID: "u-1", ResourceVersion: "4711"},
		Status: v1alpha1.NotebookValidationJobStatus{
			Phase:     v1alpha1.PhaseBuilding,
			Message:   "building",
			StartTime: &start,
			BuildStatus: &v1alpha1.BuildStatus{
				Phase: v1alpha1.BuildPhaseRunning, BuildName: "iris-build", Reason: "Running", Message: "step 2/5",
			},
			Conditions: []metav1.Condition{{Type: v1alpha1.ConditionBuildReady, Status: metav1.ConditionUnknown, Reason: "BuildRunning", LastTransitionTime: start}},
		},
	}
}

func TestStatusPatchReplacesStatusWholesale(t *testing.T) {
	job := storedJob()
	next := *job.Status.DeepCopy()
	next.Phase = v1alpha1.PhaseBuildComplete
	next.Message = ""             // removed: must be nulled
	next.BuildStatus.Reason = ""  // removed inside a nested object: must be nulled
	next.BuildStatus.Message = "" // likewise
	next.BuildStatus.Phase = v1alpha1.BuildPhaseComplete
	next.BuildStatus.ImageReference = "registry.example.com/iris@sha256:abc"
	next.Conditions = nil // a list: dropped by setting it to null

	body, err := statusPatch(job, next)
	if err != nil {
		t.Fatal(err)
	}
	var patch struct {
		Metadata map[string]any `json:"metadata"`
		Status   map[string]any `json:"status"`
	}
	if err := json.Unmarshal(body, &patch); err != nil {
		t.Fatal(err)
	}
	if patch.Metadata["resourceVersion"] != "4711" || len(patch.Metadata) != 1 {
		t.Errorf("metadata = %v, want only the resourceVersion precondition", patch.Metadata)
	}
	st := patch.Status
	for _, k := range []string{"message", "conditions"} {
		if v, ok := st[k]; !ok || v != nil {
			t.Errorf("status.%s = %v (present %v), want explicit null", k, v, ok)
		}
	}
	if st["phase"] != v1alpha1.PhaseBuildComplete || st["startTime"] != "2026-03-01T10:00:00Z" {
		t.Errorf("set fields missing: %v", st)
	}
	bs := st["buildStatus"].(map[string]any)
	if v, ok := bs["reason"]; !ok || v != nil {
		t.Errorf("buildStatus.reason = %v (present %v), want explicit null", v, ok)
	}
	if bs["phase"] != v1alpha1.BuildPhaseComplete || bs["imageReference"] != "registry.example.com/iris@sha256:abc" || bs["buildName"] != "iris-build" {
		t.Errorf("buildStatus = %v", bs)
	}
}

func TestStatusPatchDropsWholeObjects(t *testing.T) {
	job := storedJob()
	body, err := statusPatch(job, v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseInitializing})
	if err != nil {
		t.Fatal(err)
	}
	var patch map[string]map[string]any
	_ = json.Unmarshal(body, &patch)
	if v, ok := patch["status"]["buildStatus"]; !ok || v != nil {
		t.Errorf("buildStatus = %v (present %v), want explicit null", v, ok)
	}
}

func TestStatusPatchNeedsResourceVersion(t *testing.T) {
	job := storedJob()
	job.ResourceVersion = ""
	if _, err := statusPatch(job, job.Status); err == nil || !strings.Contains(err.Error(), "resourceVersion") {
		t.Errorf("err = %v, want a refusal to write unconditionally", err)
	}
}

func TestConflictError(t *testing.T) {
	last := apierrors.NewConflict(schema.GroupResource{Group: v1alpha1.Group, Resource: v1alpha1.Resource}, "iris", errors.New("the object has been modified"))
	var err error = &ConflictError{Namespace: "team-a", Name: "iris", Attempts: 3, Last: last}
	if !errors.Is(err, ErrConflict) || !apierrors.IsConflict(err) {
		t.Error("ConflictError must match ErrConflict and apierrors.IsConflict")
	}
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Attempts != 3 {
		t.Error("errors.As lost the attempts")
	}
	if !strings.Contains(err.Error(), "team-a/iris") || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("message %q", err)
	}
}

func TestNewEvent(t *testing.T) {
	job := storedJob()
	now := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	ev := newEvent(job, corev1.EventTypeWarning, "NotebookFailed", strings.Repeat("é", 600), now)
	if ev.Namespace != "team-a" || ev.GenerateName != "iris." {
		t.Errorf("event meta = %+v", ev.ObjectMeta)
	}
	ref := ev.InvolvedObject
	if ref.Kind != "NotebookValidationJob" || ref.APIVersion != "mlops.mlops.dev/v1alpha1" || ref.UID != "u-1" || ref.Namespace != "team-a" {
		t.Errorf("involvedObject = %+v", ref)
	}
	if len(ev.Message) > statustext.MaxEventMessage || !utf8.ValidString(ev.Message) || !strings.HasSuffix(ev.Message, "bytes]") {
		t.Errorf("message of %d bytes not truncated cleanly", len(ev.Message))
	}
	if ev.Type != corev1.EventTypeWarning || ev.Reason != "NotebookFailed" || ev.Count != 1 || !ev.FirstTimestamp.Time.Equal(now) {
		t.Errorf("event = %+v", ev)
	}
}
