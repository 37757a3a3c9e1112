package tracing_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlops-dev/nbv/internal/tracing"
	"github.com/mlops-dev/nbv/internal/tracing/tracingtest"
)

const uid = "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"

func TestJobContextIsTheUID(t *testing.T) {
	jc, ok := tracing.JobContext(uid)
	if !ok {
		t.Fatal("a UUID gave no job context")
	}
	if got, want := jc.TraceID().String(), strings.ReplaceAll(uid, "-", ""); got != want {
		t.Errorf("trace ID %s, want the UID's bytes %s", got, want)
	}
	again, _ := tracing.JobContext(uid)
	if !again.Equal(jc) || !jc.IsSampled() || !jc.IsRemote() {
		t.Errorf("job context %v then %v: want the same sampled remote context every time", jc, again)
	}
	for _, bad := range []string{"", "not-a-uid", "00000000-0000-0000-0000-000000000000"} {
		if _, ok := tracing.JobContext(bad); ok {
			t.Errorf("JobContext(%q) ok", bad)
		}
	}
}

func TestDisabledMakesNothing(t *testing.T) {
	if tracing.Enabled() {
		t.Fatal("tracing enabled with no provider installed")
	}
	jc, _ := tracing.JobContext(uid)
	ctx := trace.ContextWithSpanContext(context.Background(), jc)
	if got := tracing.TektonSpanContext(ctx); got != "" {
		t.Errorf("TektonSpanContext with tracing off = %q", got)
	}
	if got, _ := tracing.InJob(context.Background(), uid); trace.SpanContextFromContext(got).IsValid() {
		t.Error("InJob with tracing off made a span")
	}
	stop, err := tracing.Start(context.Background(), tracing.Options{})
	if err != nil || stop(context.Background()) != nil || tracing.Enabled() {
		t.Errorf("Start without an endpoint: err %v, enabled %v", err, tracing.Enabled())
	}
	if _, err := tracing.Start(context.Background(), tracing.Options{Endpoint: "collector:4318"}); err == nil {
		t.Error("Start accepted an endpoint that is not an http(s) URL")
	}
}

// TestRootSpanHasTheDerivedIDs: the root span every other span of the job names as its parent
// is emitted with exactly that ID, from the job's creation, linked to what ended it.
func TestRootSpanHasTheDerivedIDs(t *testing.T) {
	rec := tracingtest.Record(t)
	jc, _ := tracing.JobContext(uid)
	created := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	ctx, ender := tracing.Tracer().Start(context.Background(), "process pod-completed")
	const creator = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tracing.RecordJob(ctx, uid, creator, created, created.Add(time.Minute))
	ender.End()

	roots := tracingtest.Named(rec, tracing.SpanJob)
	if len(roots) != 1 {
		t.Fatalf("root spans: %d", len(roots))
	}
	r := roots[0]
	if r.SpanContext().TraceID() != jc.TraceID() || r.SpanContext().SpanID() != jc.SpanID() || r.Parent().IsValid() {
		t.Errorf("root span %v parent %v, want %v with no parent", r.SpanContext(), r.Parent(), jc)
	}
	if !r.StartTime().Equal(created) || r.EndTime().Sub(r.StartTime()) != time.Minute {
		t.Errorf("root span from %s to %s", r.StartTime(), r.EndTime())
	}
	if l := r.Links(); len(l) != 2 || l[0].SpanContext.SpanID() != ender.SpanContext().SpanID() || l[1].SpanContext.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("root span links %v, want the span that ended the job and the creator's", r.Links())
	}
}

// TestInJob: a context already in the job's trace is kept; any other gets a "step" span in
// the job's trace, child of its root, linking the span it came from.
func TestInJob(t *testing.T) {
	rec := tracingtest.Record(t)
	jc, _ := tracing.JobContext(uid)
	inJob, span := tracing.Tracer().Start(trace.ContextWithRemoteSpanContext(context.Background(), jc), "process job-created")
	if got, _ := tracing.InJob(inJob, uid); trace.SpanContextFromContext(got).SpanID() != span.SpanContext().SpanID() {
		t.Error("InJob replaced a span already in the job's trace")
	}
	span.End()

	pingCtx, ping := tracing.Tracer().Start(context.Background(), "process sweep")
	stepCtx, end := tracing.InJob(pingCtx, uid)
	step := trace.SpanContextFromContext(stepCtx)
	end()
	ping.End()
	if step.TraceID() != jc.TraceID() {
		t.Fatalf("step in trace %s, want the job's %s", step.TraceID(), jc.TraceID())
	}
	steps := tracingtest.Named(rec, tracing.SpanStep)
	if len(steps) != 1 || steps[0].Parent().SpanID() != jc.SpanID() || len(steps[0].Links()) != 1 ||
		steps[0].Links()[0].SpanContext.SpanID() != ping.SpanContext().SpanID() {
		t.Errorf("step spans %v: want one, child of the job's root, linking the ping's span", steps)
	}
}

// TestTektonSpanContext is what Tekton's reconciler reads (pkg/reconciler/pipelinerun/
// tracing.go: json.Unmarshal into map[string]string, then propagation.TraceContext Extract).
func TestTektonSpanContext(t *testing.T) {
	tracingtest.Record(t)
	jc, _ := tracing.JobContext(uid)
	ctx, span := tracing.Tracer().Start(trace.ContextWithRemoteSpanContext(context.Background(), jc), "write")
	defer span.End()
	v := tracing.TektonSpanContext(ctx)
	var m map[string]string
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		t.Fatalf("annotation %q: %v", v, err)
	}
	got := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(m)))
	if got.TraceID() != jc.TraceID() || got.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("Tekton would parent on %v, want %v", got, span.SpanContext())
	}
	if tp := tracing.Traceparent(ctx); tp != m["traceparent"] || !strings.HasPrefix(tp, "00-"+jc.TraceID().String()+"-") {
		t.Errorf("traceparent %q, annotation %q", tp, v)
	}
}

func TestJobUIDOfObject(t *testing.T) {
	for _, c := range []struct {
		name, data, want string
	}{
		{"the job", `{"kind":"NotebookValidationJob","metadata":{"uid":"u1"}}`, "u1"},
		{"its pod", `{"kind":"Pod","metadata":{"uid":"p","ownerReferences":[{"kind":"Other","uid":"x","controller":true},{"kind":"NotebookValidationJob","uid":"u2","controller":true}]}}`, "u2"},
		{"owned, not controlled", `{"kind":"Pod","metadata":{"uid":"p","ownerReferences":[{"kind":"NotebookValidationJob","uid":"u3"}]}}`, ""},
		{"not JSON", `nope`, ""},
	} {
		if got := tracing.JobUIDOfObject([]byte(c.data)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
