package children

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/internal/tracing"
	"github.com/mlops-dev/nbv/internal/tracing/tracingtest"
)

func twoContainers() *corev1.Pod {
	return &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "prepare", Env: []corev1.EnvVar{{Name: "NBV_JOB_SPEC", Value: "{}"}}}},
		Containers:     []corev1.Container{{Name: "notebook"}},
	}}
}

// TestTraceEnv: with tracing on, both containers get the creating span as TRACEPARENT, and
// the OTLP endpoint only when the installer set one for pods; with tracing off, nothing.
func TestTraceEnv(t *testing.T) {
	pod := twoContainers()
	traceEnv(context.Background(), pod, "http://collector:4318")
	if len(pod.Spec.InitContainers[0].Env) != 1 || len(pod.Spec.Containers[0].Env) != 0 {
		t.Errorf("tracing off changed the pod: %+v", pod.Spec)
	}

	tracingtest.Record(t)
	ctx, span := tracing.Tracer().Start(context.Background(), "decide")
	defer span.End()
	for _, endpoint := range []string{"", "http://collector:4318"} {
		pod := twoContainers()
		traceEnv(ctx, pod, endpoint)
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			if tp := env[tracing.EnvTraceparent]; !strings.Contains(tp, span.SpanContext().SpanID().String()) {
				t.Errorf("%s: TRACEPARENT %q, want the creating span", c.Name, tp)
			}
			if got, set := env["OTEL_EXPORTER_OTLP_ENDPOINT"]; got != endpoint || set != (endpoint != "") {
				t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT %q (set %v), want %q", c.Name, got, set, endpoint)
			}
		}
	}
}
