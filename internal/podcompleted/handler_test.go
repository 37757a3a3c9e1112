package podcompleted

import (
	"context"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/transition"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

func podEvent(status map[string]any) cloudevents.Event {
	ev := cloudevents.NewEvent()
	ev.SetID("1")
	ev.SetType(events.TypeResourceUpdate)
	ev.SetSource("https://apiserver")
	ev.SetExtension(events.ExtKind, "Pod")
	ev.SetExtension(events.ExtAPIVersion, "v1")
	ev.SetExtension(events.ExtName, "nb-validation")
	ev.SetExtension(events.ExtNamespace, "ns")
	_ = ev.SetData(cloudevents.ApplicationJSON, map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "nb-validation", "namespace": "ns", "labels": map[string]any{v1alpha1.LabelJob: "nb"}},
		"status":   status})
	return ev
}

// A pod that its event shows pending or running changes no job: answered with no API call
// (the executor and store here have no API server, so any read would panic).
func TestPodOnItsWayNeedsNoRead(t *testing.T) {
	h := Handler(&transition.Executor{}, nil)
	for _, status := range []map[string]any{
		{"phase": "Pending"},
		{"phase": "Running", "containerStatuses": []any{map[string]any{"name": validationpod.NotebookContainer, "ready": true,
			"state": map[string]any{"running": map[string]any{"startedAt": "2026-01-02T03:04:05Z"}}}}},
	} {
		reply, err := h(context.Background(), podEvent(status))
		if err != nil || reply != nil {
			t.Errorf("pod status %v: reply %v error %v, want nothing to do", status, reply, err)
		}
	}
}

// A pod that its event shows finished, or stuck pulling its image, is read fresh.
func TestPodOutcomeIsReadFresh(t *testing.T) {
	for _, status := range []map[string]any{
		{"phase": "Succeeded"},
		{"phase": "Pending", "containerStatuses": []any{map[string]any{"name": validationpod.NotebookContainer,
			"state": map[string]any{"waiting": map[string]any{"reason": "ImagePullBackOff"}}}}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("pod status %v: answered without reading the job", status)
				}
			}()
			_, _ = Handler(&transition.Executor{}, nil)(context.Background(), podEvent(status))
		}()
	}
}
