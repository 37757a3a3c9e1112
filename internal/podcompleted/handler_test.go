package podcompleted

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/jobstore"
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

// apiServer counts the requests it gets and answers each 404 (no such job or pod).
func apiServer(t *testing.T) (*jobstore.Store, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	store, err := jobstore.New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return store, &n
}

// A pod that its event shows pending or running changes no job: answered with no API call.
func TestPodOnItsWayNeedsNoRead(t *testing.T) {
	store, requests := apiServer(t)
	h := Handler(&transition.Executor{Store: store}, store)
	for _, status := range []map[string]any{
		{"phase": "Pending"},
		{"phase": "Running", "containerStatuses": []any{map[string]any{"name": validationpod.NotebookContainer, "ready": true,
			"state": map[string]any{"running": map[string]any{"startedAt": "2026-01-02T03:04:05Z"}}}}},
	} {
		reply, err := h(context.Background(), podEvent(status))
		if err != nil || reply != nil || requests.Load() != 0 {
			t.Errorf("pod status %v: reply %v error %v after %d requests, want nothing to do and none", status, reply, err, requests.Load())
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
		store, requests := apiServer(t)
		if _, err := Handler(&transition.Executor{Store: store}, store)(context.Background(), podEvent(status)); err != nil {
			t.Errorf("pod status %v: %v", status, err)
		}
		// The job and the pod, read at once.
		if requests.Load() != 2 {
			t.Errorf("pod status %v: %d requests, want the job and the pod read", status, requests.Load())
		}
	}
}
