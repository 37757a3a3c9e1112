package jobcreated

import (
	"context"
	"errors"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/transition"
)

// unusedChecker fails the test if a model is read.
type unusedChecker struct{ t *testing.T }

func (c unusedChecker) Check(context.Context, *v1alpha1.NotebookValidationJob) (*statemachine.ModelCheck, error) {
	c.t.Fatal("a model was read")
	return nil, nil
}

func modelEvent(eventType, apiVersion, kind string, status map[string]any) cloudevents.Event {
	ev := cloudevents.NewEvent()
	ev.SetID("1")
	ev.SetType(eventType)
	ev.SetSource("https://apiserver")
	ev.SetExtension(events.ExtKind, kind)
	ev.SetExtension(events.ExtAPIVersion, apiVersion)
	ev.SetExtension(events.ExtName, "sklearn-iris")
	ev.SetExtension(events.ExtNamespace, "ns")
	_ = ev.SetData(cloudevents.ApplicationJSON, map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": "sklearn-iris", "namespace": "ns", "resourceVersion": "7"}, "status": status})
	return ev
}

// The event of a model object that is not ready (or deleted) starts no job: it is answered
// with no API call (the executor here has no API server, so any read would panic).
func TestUnreadyModelNeedsNoRead(t *testing.T) {
	h := HandlerWith(&transition.Executor{}, Options{Models: unusedChecker{t}})
	notReady := map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False"}}}
	ready := map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}
	for name, ev := range map[string]cloudevents.Event{
		"InferenceService not Ready":  modelEvent(events.TypeResourceUpdate, "serving.kserve.io/v1beta1", "InferenceService", notReady),
		"InferenceService no status":  modelEvent(events.TypeResourceAdd, "serving.kserve.io/v1beta1", "InferenceService", nil),
		"Deployment without replicas": modelEvent(events.TypeResourceUpdate, "apps/v1", "Deployment", map[string]any{"replicas": 1}),
		"InferenceService deleted":    modelEvent(events.TypeResourceDelete, "serving.kserve.io/v1beta1", "InferenceService", ready),
	} {
		reply, err := h(context.Background(), ev)
		if err != nil || reply != nil {
			t.Errorf("%s: reply %v error %v, want nothing to do", name, reply, err)
		}
	}
}

// The event of a job waiting for its models (the write that made it wait) costs no API call;
// one whose spec changed since (a new generation) is decided again.
func TestWaitingJobEventNeedsNoRead(t *testing.T) {
	h := HandlerWith(&transition.Executor{}, Options{Models: unusedChecker{t}})
	ev := jobEvent(map[string]any{"phase": v1alpha1.PhaseInitializing, "conditions": []any{map[string]any{
		"type": statemachine.ConditionModelsReady, "status": "False", "reason": statemachine.ReasonModelsNotReady,
		"observedGeneration": 2, "lastTransitionTime": "2026-01-02T03:04:05Z", "message": "waiting"}}})
	var obj map[string]any
	if err := ev.DataAs(&obj); err != nil {
		t.Fatal(err)
	}
	obj["metadata"].(map[string]any)["generation"] = 2
	obj["spec"] = map[string]any{"modelValidation": map[string]any{"enabled": true, "targetModels": []any{"sklearn-iris"}}}
	_ = ev.SetData(cloudevents.ApplicationJSON, obj)
	if reply, err := h(context.Background(), ev); err != nil || reply != nil {
		t.Errorf("reply %v error %v, want nothing to do", reply, err)
	}
	obj["metadata"].(map[string]any)["generation"] = 3
	_ = ev.SetData(cloudevents.ApplicationJSON, obj)
	// Decided again from the event's copy (its status write would be guarded by the copy's
	// resourceVersion): the models are checked anew.
	checked := &failingChecker{}
	h = HandlerWith(&transition.Executor{}, Options{Models: checked})
	if _, err := h(context.Background(), ev); err == nil || checked.calls != 1 {
		t.Errorf("an edited spec: error %v, %d model checks; want it decided again, the models checked once", err, checked.calls)
	}
}

// failingChecker counts its checks and fails each.
type failingChecker struct{ calls int }

func (c *failingChecker) Check(context.Context, *v1alpha1.NotebookValidationJob) (*statemachine.ModelCheck, error) {
	c.calls++
	return nil, errors.New("models unavailable")
}
