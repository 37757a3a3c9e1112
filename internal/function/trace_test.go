package function

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/tracing"
	"github.com/mlops-dev/nbv/internal/tracing/tracingtest"
)

// TestEventSpanJoinsTheJobsTrace: an event about a job is handled in a consumer span of the
// job's trace (whatever trace the event itself carries: that one is linked), with the
// CloudEvents and messaging attributes, a decode child, and the reply carries the span on.
func TestEventSpanJoinsTheJobsTrace(t *testing.T) {
	rec := tracingtest.Record(t)
	r := start(t, Config{}, testHandler)
	const foreign = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ext := jobExt()
	ext["traceparent"] = foreign
	h, b := wireEvent{id: "traced-1", typ: events.TypeResourceAdd, subject: "/apis/x", ext: ext, data: example(t, events.TypeResourceAdd)}.binary()
	resp := post(t, r.url, h, b)
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	// The job of the example: metadata.uid 6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b.
	jc, _ := tracing.JobContext("6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
	spans := tracingtest.Named(rec, "process job-created")
	if len(spans) != 1 {
		t.Fatalf("process spans: %d", len(spans))
	}
	s := spans[0]
	if s.SpanContext().TraceID() != jc.TraceID() || s.Parent().SpanID() != jc.SpanID() || s.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span %v parent %v kind %v: want a consumer child of the job's root %v", s.SpanContext(), s.Parent(), s.SpanKind(), jc)
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("links %v, want the event's own traceparent", s.Links())
	}
	want := map[string]string{
		tracing.AttrCEID: "traced-1", tracing.AttrCEType: events.TypeResourceAdd, tracing.AttrCESource: "https://10.96.0.1:443",
		tracing.AttrCESubject: "/apis/x", tracing.AttrCESpecVersion: "1.0", tracing.AttrMsgSystem: "knative",
		tracing.AttrMsgOperation: "process", tracing.AttrMsgDest: "job-created", tracing.AttrMsgID: "traced-1",
		tracing.AttrStatusCode: "200", tracing.AttrOutcome: "reply",
	}
	got := tracingtest.Attrs(s)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
	dec := tracingtest.Named(rec, tracing.SpanDecode)
	if len(dec) != 1 || dec[0].Parent().SpanID() != s.SpanContext().SpanID() || dec[0].StartTime() != s.StartTime() {
		t.Errorf("decode spans %v: want one child of the event's span, starting with it", dec)
	}
	if line := r.logs.lineFor(t, "traced-1"); line["trace_id"] != jc.TraceID().String() || line["span_id"] != s.SpanContext().SpanID().String() {
		t.Errorf("log line trace_id %v span_id %v, want the event's span", line["trace_id"], line["span_id"])
	}
	if tp := resp.header.Get("Ce-Traceparent"); !strings.HasPrefix(tp, "00-"+jc.TraceID().String()+"-"+s.SpanContext().SpanID().String()) {
		t.Errorf("reply traceparent %q, want the event's span", tp)
	}
}

// TestEventSpanOfOtherEvents: an event about no job continues the trace it carries; a bad
// one is an error on its decode span.
func TestEventSpanOfOtherEvents(t *testing.T) {
	rec := tracingtest.Record(t)
	r := start(t, Config{ServiceName: "sweep"}, testHandler)
	const carried = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	h, b := wireEvent{id: "ping-1", typ: events.TypePing, subject: "noop", ext: map[string]string{"traceparent": carried}, data: []byte(`{}`)}.binary()
	if resp := post(t, r.url, h, b); resp.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	h, b = wireEvent{id: "bad-1", typ: "dev.example.unknown", data: []byte(`{}`)}.binary()
	if resp := post(t, r.url, h, b); resp.status != http.StatusBadRequest {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	spans := tracingtest.Named(rec, "process sweep")
	if len(spans) != 2 {
		t.Fatalf("process spans: %d", len(spans))
	}
	if p := spans[0].Parent(); p.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || p.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("ping span parent %v, want the carried traceparent", p)
	}
	if got := tracingtest.Attrs(spans[1])[tracing.AttrStatusCode]; got != "400" {
		t.Errorf("refused event's status code %q", got)
	}
	dec := tracingtest.Named(rec, tracing.SpanDecode)
	if len(dec) != 2 || dec[1].Status().Description == "" {
		t.Errorf("decode spans %v: the refused event's should say why", dec)
	}
}

// TestRouteSpan: a route that decodes its own event (external CI) gets a consumer span
// continuing the sender's traceparent header, with the event's attributes once decoded.
func TestRouteSpan(t *testing.T) {
	rec := tracingtest.Record(t)
	route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, span := StartRouteSpan(r.Context(), r)
		ev := cloudevents.NewEvent()
		ev.SetID("ci-1")
		ev.SetType(events.TypeBuildReport)
		ev.SetSource("https://ci.example.com")
		span.End(&ev, http.StatusAccepted, "applied", nil)
		w.WriteHeader(http.StatusAccepted)
	})
	r := start(t, Config{ServiceName: "build-status-changed", Routes: map[string]http.Handler{"/ci": route}}, testHandler)
	h := http.Header{}
	h.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if resp := post(t, r.url+"/ci", h, []byte(`{}`)); resp.status != http.StatusAccepted {
		t.Fatalf("status %d", resp.status)
	}
	spans := tracingtest.Named(rec, "process build-status-changed")
	if len(spans) != 1 || spans[0].Parent().SpanID().String() != "b7ad6b7169203331" || spans[0].SpanKind() != trace.SpanKindConsumer {
		t.Fatalf("route spans %v: want one consumer span, child of the sender's", spans)
	}
	a := tracingtest.Attrs(spans[0])
	if a[tracing.AttrCEID] != "ci-1" || a[tracing.AttrCEType] != events.TypeBuildReport || a[tracing.AttrStatusCode] != "202" ||
		a[tracing.AttrOutcome] != "applied" || a["url.path"] != "/ci" || a[tracing.AttrMsgDest] != "build-status-changed" {
		t.Errorf("attributes %v", a)
	}
}

// TestFailedExportsAreLoggedAsJSON: a batch of spans the collector refuses is reported in the
// function's own structured log, naming the answer, not only by the SDK's default handler on
// stderr.
func TestFailedExportsAreLoggedAsJSON(t *testing.T) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such tenant", http.StatusBadRequest)
	}))
	defer collector.Close()
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20") // ms: the batch is exported at once
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "600000")
	r := start(t, Config{OTLPEndpoint: collector.URL}, testHandler)
	h, b := wireEvent{id: "exported-1", typ: events.TypeResourceAdd, subject: "/apis/x", ext: jobExt(), data: example(t, events.TypeResourceAdd)}.binary()
	if resp := post(t, r.url, h, b); resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range r.logs.lines(t) {
			if l["msg"] == "telemetry not exported" && l["level"] == "WARN" {
				if e, _ := l["error"].(string); !strings.Contains(e, "400 Bad Request: no such tenant") {
					t.Errorf("logged %q, want the collector's answer", e)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the refused export; logged: %v", r.logs.lines(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
