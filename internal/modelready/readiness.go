package modelready

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlops-dev/nbv/internal/modelspec"
)

// Resources read for the platforms whose readiness is read.
var (
	InferenceServices = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	Deployments       = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// unreadGroups are the platforms the existing operator detects by their API group but whose
// models' readiness it never read (its checks are stubs): here too the job proceeds at once.
var unreadGroups = map[string]schema.GroupResource{
	modelspec.PlatformRayServe: {Group: "ray.io", Resource: "rayservices"},
	modelspec.PlatformSeldon:   {Group: "machinelearning.seldon.io", Resource: "seldondeployments"},
	modelspec.PlatformBentoML:  {Group: "serving.yatai.ai", Resource: "bentodeployments"},
}

// readiness says how a platform's model objects tell they are ready.
type readiness int

const (
	readyCondition    readiness = iota // status.conditions[type=Ready] is True
	availableReplicas                  // a Deployment with status.availableReplicas >= 1
)

// readinessOf is how the model objects of platform are read.
func readinessOf(platform string) readiness {
	switch platform {
	case modelspec.PlatformVLLM, modelspec.PlatformTorchServe, modelspec.PlatformTensorFlowServing, modelspec.PlatformTriton:
		return availableReplicas
	}
	return readyCondition
}

// Ready reports whether obj, a model object read the way r says, can serve, and if not why.
func (r readiness) Ready(obj *unstructured.Unstructured) (bool, string) {
	if r == availableReplicas {
		available, _ := count(obj, "status", "availableReplicas")
		desired, found := count(obj, "spec", "replicas")
		if !found {
			desired = 1
		}
		if available >= 1 {
			return true, fmt.Sprintf("%d of %d replicas available", available, desired)
		}
		return false, fmt.Sprintf("Deployment has %d of %d replicas available", available, desired)
	}
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok || cond["type"] != "Ready" {
			continue
		}
		if cond["status"] == "True" {
			return true, "Ready condition is True"
		}
		why := fmt.Sprintf("%s Ready condition is %v", obj.GetKind(), cond["status"])
		if reason, _ := cond["reason"].(string); reason != "" {
			why += " (" + reason + ")"
		}
		if message, _ := cond["message"].(string); message != "" {
			why += ": " + message
		}
		return false, why
	}
	return false, obj.GetKind() + " has no Ready condition yet"
}

// ConditionReady reports whether obj's Ready condition (Knative's and KServe's convention) is
// True, and if not why, naming its reason and message.
func ConditionReady(obj *unstructured.Unstructured) (bool, string) {
	return readyCondition.Ready(obj)
}

// ReadyObject reports whether obj, a model object of kind and API group seen in an event, is
// ready by the rule of the platforms that serve that kind: a Deployment by its available
// replicas, anything else by its Ready condition. job-created answers the event of an object
// that is not ready with no API call: no job can start because of it.
func ReadyObject(obj *unstructured.Unstructured) bool {
	r := readyCondition
	if obj.GroupVersionKind().GroupKind() == (schema.GroupKind{Group: "apps", Kind: "Deployment"}) {
		r = availableReplicas
	}
	ready, _ := r.Ready(obj)
	return ready
}

// count reads an integer field of obj, whether it was decoded by the API machinery (int64)
// or from an event's JSON (float64, json.Number).
func count(obj *unstructured.Unstructured, fields ...string) (int64, bool) {
	v, found, _ := unstructured.NestedFieldNoCopy(obj.Object, fields...)
	switch n := v.(type) {
	case int64:
		return n, found
	case int:
		return int64(n), found
	case float64:
		return int64(n), found
	case json.Number:
		i, err := n.Int64()
		return i, found && err == nil
	}
	return 0, false
}
