package modelready

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func object(apiVersion, kind string, status map[string]any, spec map[string]any) *unstructured.Unstructured {
	o := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "m", "namespace": "ns"}}
	if status != nil {
		o["status"] = status
	}
	if spec != nil {
		o["spec"] = spec
	}
	return &unstructured.Unstructured{Object: o}
}

func TestReadiness(t *testing.T) {
	cond := func(status, reason string) map[string]any {
		return map[string]any{"conditions": []any{
			map[string]any{"type": "PredictorReady", "status": "True"},
			map[string]any{"type": "Ready", "status": status, "reason": reason},
		}}
	}
	cases := []struct {
		name  string
		obj   *unstructured.Unstructured
		ready bool
		why   string
	}{
		{"isvc ready", object("serving.kserve.io/v1beta1", "InferenceService", cond("True", ""), nil), true, ""},
		{"isvc not ready", object("serving.kserve.io/v1beta1", "InferenceService", cond("False", "PredictorNotReady"), nil), false, "InferenceService Ready condition is False (PredictorNotReady)"},
		{"isvc without status", object("serving.kserve.io/v1beta1", "InferenceService", nil, nil), false, "no Ready condition yet"},
		{"custom ready", object("example.com/v1", "Model", cond("True", ""), nil), true, ""},
		{"deployment available", object("apps/v1", "Deployment", map[string]any{"availableReplicas": int64(1)}, map[string]any{"replicas": int64(2)}), true, ""},
		// As decoded from an event's JSON.
		{"deployment available (JSON numbers)", object("apps/v1", "Deployment", map[string]any{"availableReplicas": float64(1)}, map[string]any{"replicas": float64(1)}), true, ""},
		{"deployment unavailable", object("apps/v1", "Deployment", map[string]any{"replicas": int64(1)}, map[string]any{"replicas": int64(1)}), false, "0 of 1 replicas available"},
		// A Deployment's conditions do not count: only available replicas do.
		{"deployment with a Ready condition only", object("apps/v1", "Deployment", cond("True", ""), nil), false, "0 of 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReadyObject(tc.obj); got != tc.ready {
				t.Errorf("ReadyObject = %v, want %v", got, tc.ready)
			}
			rule := readyCondition
			if tc.obj.GetKind() == "Deployment" {
				rule = availableReplicas
			}
			ready, why := rule.Ready(tc.obj)
			if ready != tc.ready || !strings.Contains(why, tc.why) {
				t.Errorf("Ready = %v %q, want %v containing %q", ready, why, tc.ready, tc.why)
			}
		})
	}
}
