package otlpjson_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/mlops-dev/nbv/internal/otlpjson"
	"github.com/mlops-dev/nbv/internal/otlpjson/otlpjsontest"
)

// TestExportDecodesAsOTLP: what the exporter posts is an ExportTraceServiceRequest as
// opentelemetry-proto's own types decode it, with IDs, parent, kind, times, attributes of
// each type, links, status and the headers of OTEL_EXPORTER_OTLP_HEADERS.
func TestExportDecodesAsOTLP(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20tok,x-tenant=a")
	var got *coltracepb.ExportTraceServiceRequest
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		header = r.Header
		var err error
		if got, err = otlpjsontest.Decode(body); err != nil {
			t.Errorf("body does not decode as OTLP: %v\n%s", err, body)
		}
	}))
	defer srv.Close()
	exp, err := otlpjson.New(srv.URL + "/v1/traces")
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(sdkresource.NewSchemaless(attribute.String("service.name", "nbv-runner"))))
	linked := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}})
	ctx, parent := tp.Tracer("scope").Start(context.Background(), "execute")
	_, child := tp.Tracer("scope").Start(ctx, "cell", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(trace.Link{SpanContext: linked}),
		trace.WithAttributes(attribute.String("s", "v"), attribute.Int("i", 7), attribute.Float64("f", 1.5), attribute.Bool("b", true)))
	child.SetStatus(codes.Error, "failure")
	child.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("nothing exported")
	}
	if header.Get("Content-Type") != "application/json" || header.Get("Authorization") != "Bearer tok" || header.Get("X-Tenant") != "a" {
		t.Errorf("headers %v", header)
	}
	rs := got.ResourceSpans[0]
	if v := rs.Resource.Attributes[0]; v.Key != "service.name" || v.Value.GetStringValue() != "nbv-runner" {
		t.Errorf("resource %v", rs.Resource)
	}
	s := rs.ScopeSpans[0].Spans[0]
	sc := child.SpanContext()
	if s.Name != "cell" || hex.EncodeToString(s.TraceId) != sc.TraceID().String() || hex.EncodeToString(s.SpanId) != sc.SpanID().String() ||
		hex.EncodeToString(s.ParentSpanId) != parent.SpanContext().SpanID().String() || s.Kind != tracepb.Span_SPAN_KIND_CONSUMER ||
		s.StartTimeUnixNano == 0 || s.EndTimeUnixNano < s.StartTimeUnixNano || rs.ScopeSpans[0].Scope.Name != "scope" {
		t.Errorf("span %v, want the cell span %v under %v", s, sc, parent.SpanContext())
	}
	if s.Attributes[1].Value.GetIntValue() != 7 || s.Attributes[2].Value.GetDoubleValue() != 1.5 || !s.Attributes[3].Value.GetBoolValue() || s.Attributes[0].Value.GetStringValue() != "v" {
		t.Errorf("attributes %v", s.Attributes)
	}
	if len(s.Links) != 1 || hex.EncodeToString(s.Links[0].SpanId) != linked.SpanID().String() {
		t.Errorf("links %v", s.Links)
	}
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || s.Status.GetMessage() != "failure" {
		t.Errorf("status %v", s.Status)
	}
}

func TestExportFailsOnRefusal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer srv.Close()
	exp, _ := otlpjson.New(srv.URL)
	tp := sdktrace.NewTracerProvider()
	_, s := tp.Tracer("x").Start(context.Background(), "a")
	s.End()
	if err := exp.ExportSpans(context.Background(), []sdktrace.ReadOnlySpan{s.(sdktrace.ReadOnlySpan)}); err == nil {
		t.Error("a 400 was not an error")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "novalue")
	if _, err := otlpjson.New(srv.URL); err == nil {
		t.Error("a header without = was accepted")
	}
}
