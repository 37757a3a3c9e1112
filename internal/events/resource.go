package events

import (
	"encoding/json"
	"errors"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kjson "sigs.k8s.io/json"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// ResourceEvent is a decoded ApiServerSource Resource-mode event. It is a hint (DESIGN principle
// 1): handlers use it to know which object changed, then read fresh state from the API.
type ResourceEvent struct {
	// Type is one of TypeResourceAdd, TypeResourceUpdate, TypeResourceDelete.
	Type       string
	Kind       string
	APIVersion string
	Namespace  string
	Name       string
	// Object is the object as the source saw it; for a delete, its last known state.
	Object *unstructured.Unstructured
	// data is Object as the event carried it, which Decode decodes.
	data []byte
}

// IsResourceType reports whether t is an ApiServerSource Resource-mode event type.
func IsResourceType(t string) bool {
	return t == TypeResourceAdd || t == TypeResourceUpdate || t == TypeResourceDelete
}

// DecodeResourceEvent decodes an ApiServerSource (mode Resource) event: it checks the type, the
// extensions kind/apiversion/name/namespace, decodes the data as a Kubernetes object and checks
// that the object is the one the extensions name (a disagreement means a forged or corrupted
// event) and that its namespace and name are ones the API server could hold (names.go). Every
// failure wraps ErrMalformed and names the problem.
func DecodeResourceEvent(ce cloudevents.Event) (ResourceEvent, error) {
	if !IsResourceType(ce.Type()) {
		return ResourceEvent{}, fmt.Errorf("%w: type %q is not an ApiServerSource resource event (want %s, %s or %s)",
			ErrMalformed, ce.Type(), TypeResourceAdd, TypeResourceUpdate, TypeResourceDelete)
	}
	ext := map[string]string{}
	for _, name := range []string{ExtKind, ExtAPIVersion, ExtName, ExtNamespace} {
		v, err := stringExtension(ce, name)
		if err != nil {
			return ResourceEvent{}, fmt.Errorf("%w: event %s (%s): %v", ErrMalformed, ce.ID(), ce.Type(), err)
		}
		ext[name] = v
	}
	data := ce.Data()
	if len(data) == 0 {
		return ResourceEvent{}, fmt.Errorf("%w: event %s (%s) for %s %s/%s has no data; the ApiServerSource must use mode Resource, not Reference",
			ErrMalformed, ce.ID(), ce.Type(), ext[ExtKind], ext[ExtNamespace], ext[ExtName])
	}
	var content map[string]any
	if err := json.Unmarshal(data, &content); err != nil {
		return ResourceEvent{}, fmt.Errorf("%w: data of event %s (%s) is not a JSON object: %v (data starts %q)",
			ErrMalformed, ce.ID(), ce.Type(), err, prefix(data))
	}
	obj := &unstructured.Unstructured{Object: content}
	for _, c := range []struct{ attr, ext, data string }{
		{ExtKind, ext[ExtKind], obj.GetKind()},
		{ExtAPIVersion, ext[ExtAPIVersion], obj.GetAPIVersion()},
		{ExtName, ext[ExtName], obj.GetName()},
		{ExtNamespace, ext[ExtNamespace], obj.GetNamespace()},
	} {
		if c.ext != c.data {
			return ResourceEvent{}, fmt.Errorf("%w: event %s (%s): extension %s=%q but the data object says %q",
				ErrMalformed, ce.ID(), ce.Type(), c.attr, c.ext, c.data)
		}
	}
	if err := CheckNamespace("namespace", ext[ExtNamespace]); err != nil {
		return ResourceEvent{}, fmt.Errorf("event %s (%s): %w", ce.ID(), ce.Type(), err)
	}
	if err := CheckObjectName("name", ext[ExtName]); err != nil {
		return ResourceEvent{}, fmt.Errorf("event %s (%s): %w", ce.ID(), ce.Type(), err)
	}
	return ResourceEvent{
		Type:       ce.Type(),
		Kind:       ext[ExtKind],
		APIVersion: ext[ExtAPIVersion],
		Namespace:  ext[ExtNamespace],
		Name:       ext[ExtName],
		Object:     obj,
		data:       data,
	}, nil
}

// stringExtension returns a required, non-empty extension attribute as a string. Extensions
// arrive typed as strings in both HTTP content modes, but a structured-mode sender may use JSON
// numbers or booleans; those are not what an ApiServerSource sends, so they are rejected.
func stringExtension(ce cloudevents.Event, name string) (string, error) {
	v, ok := ce.Extensions()[name]
	if !ok {
		return "", fmt.Errorf("missing required extension attribute %q", name)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("extension attribute %q is %T, want a string", name, v)
	}
	if s == "" {
		return "", fmt.Errorf("extension attribute %q is empty", name)
	}
	return s, nil
}

// Decode converts the event's object into obj (a typed API struct such as a Pod or a
// NotebookValidationJob): the object as the API server had it when the event was sent, for a
// function to conclude "nothing to do" without a read (DESIGN principle 1). An object that
// does not fit obj's type wraps ErrMalformed: the API server never sends one.
//
// It decodes the event's JSON with the decoder client-go uses for API answers
// (sigs.k8s.io/json), not from Object with runtime.DefaultUnstructuredConverter, whose first
// conversion of a Pod costs a fresh process about 10 ms of CPU (dyntyped.FromUnstructured
// says why); this one costs about 3.5 ms and warms the cache that decoding the pod read fresh
// then uses.
//
// A key given twice is refused: Object kept its last value, and obj would merge both, so a
// forged event could show a handler a spec other than the one the JSON patch that writes from
// it checks (jobstore.Carried).
func (re ResourceEvent) Decode(obj any) error {
	dup, err := kjson.UnmarshalStrict(re.data, obj, kjson.DisallowDuplicateFields)
	if err == nil && len(dup) > 0 {
		err = errors.Join(dup...)
	}
	if err != nil {
		return fmt.Errorf("%w: the object of the %s event about %s %s/%s does not decode: %v",
			ErrMalformed, re.Type, re.Kind, re.Namespace, re.Name, err)
	}
	return nil
}

// NewResourceUpdate is the update event an ApiServerSource (mode Resource) sends about the
// object namespace/name, carrying only its identity and, when job is set, its job label: what
// a warm-up or a test sends a function about an object the function reads fresh anyway.
func NewResourceUpdate(id, source, namespace, apiVersion, kind, name, job string) cloudevents.Event {
	ev := cloudevents.NewEvent()
	ev.SetID(id)
	ev.SetType(TypeResourceUpdate)
	ev.SetSource(source)
	ev.SetExtension(ExtKind, kind)
	ev.SetExtension(ExtAPIVersion, apiVersion)
	ev.SetExtension(ExtName, name)
	ev.SetExtension(ExtNamespace, namespace)
	meta := map[string]any{"name": name, "namespace": namespace}
	if job != "" {
		meta["labels"] = map[string]any{v1alpha1.LabelJob: job}
	}
	_ = ev.SetData(cloudevents.ApplicationJSON, map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": meta})
	return ev
}
