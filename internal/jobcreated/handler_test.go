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
