package buildchild

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build/tekton"
	"github.com/mlops-dev/nbv/internal/tracing"
	"github.com/mlops-dev/nbv/internal/tracing/tracingtest"
)

// TestPipelineRunCarriesTheSpanContext: with tracing on, the PipelineRun names the span that
// created it in the annotation Tekton's reconciler parents its own spans on; with it off, the
// PipelineRun has no such annotation.
func TestPipelineRunCarriesTheSpanContext(t *testing.T) {
	annotation := func(ctx context.Context) string {
		t.Helper()
		b, f := newBuilds()
		if err := b.StartBuild(ctx, job(v1alpha1.BuildStrategyTekton, nil)); err != nil {
			t.Fatal(err)
		}
		u, err := f.dyn.Resource(tekton.GVR).Namespace("ns").Get(context.Background(), childName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return u.GetAnnotations()[tracing.TektonAnnotation]
	}
	if got := annotation(context.Background()); got != "" {
		t.Errorf("tracing off: annotation %q", got)
	}

	tracingtest.Record(t)
	ctx, span := tracing.Tracer().Start(context.Background(), "decide")
	defer span.End()
	var m map[string]string
	if err := json.Unmarshal([]byte(annotation(ctx)), &m); err != nil {
		t.Fatalf("annotation is not a JSON map: %v", err)
	}
	sc := span.SpanContext()
	if tp := m["traceparent"]; !strings.HasPrefix(tp, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-") {
		t.Errorf("traceparent %q, want the creating span %v", tp, sc)
	}
}
