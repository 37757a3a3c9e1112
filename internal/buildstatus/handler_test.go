package buildstatus

import (
	"context"
	"errors"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/transition"
)

// observer fails the test if it is reached: the cases below must be settled from the event.
type observer struct{ t *testing.T }

func (o observer) ReadChild(context.Context, childapi.Resource, string, string) (buildchild.Child, error) {
	o.t.Error("the child was read for an event that should have been settled without the API")
	return buildchild.Child{}, nil
}

func (o observer) ObserveRead(context.Context, *v1alpha1.NotebookValidationJob, childapi.Resource, string, string, func(context.Context) (buildchild.Child, error)) (statemachine.Observation, bool, error) {
	o.t.Error("the child was observed for an event that should have been settled without the API")
	return statemachine.Observation{}, false, nil
}

func (o observer) ObserveObject(*unstructured.Unstructured) (statemachine.Observation, error) {
	return statemachine.Observation{Kind: statemachine.BuildRunning}, nil
}

func event(kind, apiVersion, name string, labels map[string]any) cloudevents.Event {
	ev := cloudevents.NewEvent()
	ev.SetID("1")
	ev.SetType(events.TypeResourceUpdate)
	ev.SetSource("https://apiserver")
	ev.SetExtension(events.ExtKind, kind)
	ev.SetExtension(events.ExtAPIVersion, apiVersion)
	ev.SetExtension(events.ExtName, name)
	ev.SetExtension(events.ExtNamespace, "ns")
	meta := map[string]any{"name": name, "namespace": "ns"}
	if labels != nil {
		meta["labels"] = labels
	}
	_ = ev.SetData(cloudevents.ApplicationJSON, map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": meta})
	return ev
}

func TestEventsSettledWithoutTheAPI(t *testing.T) {
	label := map[string]any{v1alpha1.LabelJob: "nb"}
	build := statemachine.BuildName(&v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: "nb", UID: "uid-1"}})
	cases := []struct {
		name     string
		ev       cloudevents.Event
		badInput bool
	}{
		{"a TaskRun", event("TaskRun", "tekton.dev/v1", build, label), true},
		{"an old PipelineRun version", event("PipelineRun", "tekton.dev/v1beta1", build, label), true},
		{"a BuildConfig", event("BuildConfig", "build.openshift.io/v1", build, label), true},
		{"a Pod", event("Pod", "v1", build, label), true},
		{"no job label", event("PipelineRun", "tekton.dev/v1", build, nil), true},
	}
	h := Handler(&transition.Executor{}, observer{t})
	for _, c := range cases {
		reply, err := h(context.Background(), c.ev)
		// Both are answered 400 (function.Serve).
		if got := errors.Is(err, function.ErrBadInput) || errors.Is(err, events.ErrMalformed); got != c.badInput || (!c.badInput && err != nil) || reply != nil {
			t.Errorf("%s: reply %v error %v, want bad input %v", c.name, reply, err, c.badInput)
		}
	}
}

func TestFinishedBeforeBuilding(t *testing.T) {
	for _, phase := range []string{v1alpha1.PhaseNone, v1alpha1.PhaseInitializing, v1alpha1.PhasePending} {
		if !beforeBuilding(phase) {
			t.Errorf("%q is before Building", phase)
		}
	}
	for _, phase := range []string{v1alpha1.PhaseBuilding, v1alpha1.PhaseBuildComplete, v1alpha1.PhaseFailed} {
		if beforeBuilding(phase) {
			t.Errorf("%q is not before Building", phase)
		}
	}
	for _, k := range []statemachine.Kind{statemachine.BuildPending, statemachine.BuildRunning} {
		if finished(k) {
			t.Errorf("%s is not a finished build", k)
		}
	}
}
