package otlpjson_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

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

// TestTraceExportEqualsSDKExporter is the differential check for spans: the same spans, with
// events, errors, links, a remote parent, trace state, every attribute type, dropped counts
// and three scopes (one with attributes, one empty), exported by New (JSON) and by the SDK's
// otlptracehttp (protobuf), decode to equal ExportTraceServiceRequests. The one known
// difference, link trace state, is checked and then set aside.
func TestTraceExportEqualsSDKExporter(t *testing.T) {
	spans, linkState := recordSpans(t)

	c := newCollector(t)
	exp, err := otlpjson.New(c.URL + "/v1/traces")
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	body, _ := c.last(t)
	ours, err := otlpjsontest.Decode(body)
	if err != nil {
		t.Fatalf("the export does not decode as OTLP: %v\n%s", err, body)
	}

	sc := newCollector(t)
	sdkExp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(sc.URL+"/v1/traces"),
		otlptracehttp.WithCompression(otlptracehttp.NoCompression), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	if err := sdkExp.ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	sdkBody, _ := sc.last(t)
	var theirs coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(sdkBody, &theirs); err != nil {
		t.Fatal(err)
	}

	// The SDK's exporter leaves out a link's trace state (tracetransform.links); the proto has
	// the field and we send it.
	links := 0
	for _, rs := range ours.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				for _, l := range s.Links {
					if l.TraceState == linkState {
						links++
					}
					l.TraceState = ""
				}
			}
		}
	}
	if links == 0 {
		t.Errorf("no link carries the trace state %q", linkState)
	}
	requireSameMessage(t, ours, &theirs)
	if n := len(spans); n < 4 {
		t.Fatalf("%d spans recorded", n)
	}
}

// recordSpans ends spans of every shape under a real tracer provider, and says the trace state
// its links carry.
func recordSpans(t *testing.T) ([]sdktrace.ReadOnlySpan, string) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	res, err := sdkresource.New(context.Background(), sdkresource.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"),
		sdkresource.WithAttributes(attribute.String("service.name", "nbv-runner"), attribute.Int64("pid", 42)))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res),
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{AttributeValueLengthLimit: -1, AttributeCountLimit: 12,
			EventCountLimit: 3, LinkCountLimit: 2, AttributePerEventCountLimit: 2, AttributePerLinkCountLimit: 1}))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	state, err := trace.ParseTraceState("vendor=abc,other=1")
	if err != nil {
		t.Fatal(err)
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0xfe, 1}, SpanID: trace.SpanID{0xed, 2},
		TraceFlags: trace.FlagsSampled, TraceState: state, Remote: true})
	linked := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceState: state, Remote: true})
	local := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{3}, SpanID: trace.SpanID{4}, TraceFlags: trace.FlagsSampled})

	a := tp.Tracer("github.com/mlops-dev/nbv", trace.WithInstrumentationVersion("1.2.3"), trace.WithSchemaURL("https://opentelemetry.io/schemas/1.24.0"))
	b := tp.Tracer("second", trace.WithInstrumentationAttributes(attribute.String("team", "ml"), attribute.Bool("beta", true)))
	empty := tp.Tracer("")

	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	ctx, parent := a.Start(ctx, "execute", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("s", "v"), attribute.String("empty", ""), attribute.Int("i", 7), attribute.Int64("i64", math.MinInt64),
		attribute.Float64("f", 1.5), attribute.Float64("zero", 0), attribute.Float64("inf", math.Inf(1)), attribute.Bool("b", false),
		attribute.StringSlice("ss", []string{"a", ""}), attribute.IntSlice("is", []int{1, -2}), attribute.Int64Slice("none", nil),
		attribute.Float64Slice("fs", []float64{0.5, 1e-9}), attribute.BoolSlice("bs", []bool{true, false}),
		attribute.ByteSlice("bytes", []byte{0, 0xff, 'x'}), attribute.Slice("mixed", attribute.IntValue(1), attribute.StringValue("two")),
		attribute.String("over", "the limit"), attribute.String("over2", "the limit")),
		trace.WithLinks(trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("why", "retry"), attribute.Int("dropped", 1)}},
			trace.Link{SpanContext: local}, trace.Link{SpanContext: linked}))
	parent.AddEvent("ready", trace.WithAttributes(attribute.Int("pending", 3)))
	parent.AddEvent("many", trace.WithAttributes(attribute.Int("a", 1), attribute.Int("b", 2), attribute.Int("c", 3)))
	parent.RecordError(errors.New("kernel died"))
	parent.AddEvent("beyond the limit")
	parent.SetStatus(codes.Error, "cell 3 failed")

	_, child := b.Start(ctx, "cell", trace.WithSpanKind(trace.SpanKindConsumer))
	child.SetStatus(codes.Ok, "")
	child.End()
	_, client := a.Start(ctx, "fetch", trace.WithSpanKind(trace.SpanKindClient))
	client.End()
	_, anon := empty.Start(context.Background(), "anonymous", trace.WithSpanKind(trace.SpanKindProducer))
	anon.End()
	parent.End()
	return rec.Ended(), state.String()
}
