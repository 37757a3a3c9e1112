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

func jobEvent(status any) cloudevents.Event {
	ev := cloudevents.NewEvent()
	ev.SetID("1")
	ev.SetType(events.TypeResourceUpdate)
	ev.SetSource("https://apiserver")
	ev.SetExtension(events.ExtKind, v1alpha1.Kind)
	ev.SetExtension(events.ExtAPIVersion, v1alpha1.SchemeGroupVersion.String())
	ev.SetExtension(events.ExtName, "nb")
	ev.SetExtension(events.ExtNamespace, "ns")
	obj := map[string]any{"apiVersion": v1alpha1.SchemeGroupVersion.String(), "kind": v1alpha1.Kind,
		"metadata": map[string]any{"name": "nb", "namespace": "ns", "resourceVersion": "7"}}
	if status != nil {
		obj["status"] = status
	}
	_ = ev.SetData(cloudevents.ApplicationJSON, obj)
	return ev
}

// A job event whose own object is in a phase with no JobSeen row is answered with no API
// call: the executor here has no API server, so any read would panic.
func TestPhasesWithoutARowNeedNoRead(t *testing.T) {
	h := Handler(&transition.Executor{})
	for _, phase := range statemachine.AllPhases {
		if statemachine.CouldApply(phase, statemachine.JobSeen) {
			continue
		}
		reply, err := h(context.Background(), jobEvent(map[string]any{"phase": phase}))
		if err != nil || reply != nil {
			t.Errorf("phase %q: reply %v error %v, want nothing to do", phase, reply, err)
		}
	}
}

func TestUndecodableObjectIsMalformed(t *testing.T) {
	_, err := Handler(&transition.Executor{})(context.Background(), jobEvent(map[string]any{"phase": 7}))
	if !errors.Is(err, events.ErrMalformed) {
		t.Errorf("a status whose phase is a number: error %v, want ErrMalformed", err)
	}
}

// The event of the write that accepted a job is answered with no API call: its writer started
// the job from the API server's answer. Only that reason is skipped: a job held in
// Initializing for another reason (its models) is not "accepted".
func TestAcceptedJobNeedsNoRead(t *testing.T) {
	h := Handler(&transition.Executor{})
	accepted := map[string]any{"phase": v1alpha1.PhaseInitializing, "conditions": []any{map[string]any{
		"type": v1alpha1.ConditionReady, "status": "Unknown", "reason": statemachine.ReasonInitialized,
		"message": "job accepted", "lastTransitionTime": "2026-12-07T12:00:00Z"}}}
	reply, err := h(context.Background(), jobEvent(accepted))
	if err != nil || reply != nil {
		t.Errorf("accepted job: reply %v error %v, want nothing to do", reply, err)
	}
	held := map[string]any{"phase": v1alpha1.PhaseInitializing, "conditions": []any{map[string]any{
		"type": v1alpha1.ConditionReady, "status": "Unknown", "reason": "WaitingForModels",
		"message": "models not ready", "lastTransitionTime": "2026-12-07T12:00:00Z"}}}
	func() {
		defer func() { _ = recover() }() // the executor has no API server: deciding reaches it
		if _, err := h(context.Background(), jobEvent(held)); err == nil {
			t.Errorf("a job held in Initializing for another reason was answered without being decided")
		}
	}()
}
