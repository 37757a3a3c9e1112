package otlpjson_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/mlops-dev/nbv/internal/otlpjson"
	"github.com/mlops-dev/nbv/internal/otlpjson/otlpjsontest"
)

// TestMetricExportEqualsSDKExporter is the differential check: the same collected metrics,
// cumulative and delta, exported by NewMetricExporter (JSON) and by the SDK's otlpmetrichttp
// (protobuf), decode to equal ExportMetricsServiceRequests.
func TestMetricExportEqualsSDKExporter(t *testing.T) {
	for name, rm := range recordMetrics(t) {
		t.Run(name, func(t *testing.T) {
			ours := exportOurs(t, rm)
			theirs := exportSDKs(t, rm)
			requireSameMessage(t, ours, theirs)
			if n := countMetrics(ours); n < 12 {
				t.Errorf("%d metrics compared, want every instrument's", n)
			}
		})
	}
}

// recordMetrics records with real instruments of every kind, under two meters, and collects
// them with a cumulative and a delta reader; a summary (which no SDK instrument makes) is
// added to each.
func recordMetrics(t *testing.T) map[string]*metricdata.ResourceMetrics {
	t.Helper()
	res, err := sdkresource.New(context.Background(), sdkresource.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"),
		sdkresource.WithAttributes(attribute.String("service.name", "nbv-validate"), attribute.Int("replica", 3),
			attribute.Bool("cold", true), attribute.StringSlice("zones", []string{"a", "b"})))
	if err != nil {
		t.Fatal(err)
	}
	cumulative := sdkmetric.NewManualReader()
	delta := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
		return metricdata.DeltaTemporality
	}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(cumulative), sdkmetric.WithReader(delta),
		sdkmetric.WithView(
			sdkmetric.NewView(sdkmetric.Instrument{Name: "exp.latency"},
				sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}}),
			sdkmetric.NewView(sdkmetric.Instrument{Name: "no.minmax"},
				sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: []float64{1, 10}, NoMinMax: true}}),
		))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	ctx := context.Background()
	// A sampled span in the context makes the SDK keep exemplars with trace and span IDs.
	sampled := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, SpanID: trace.SpanID{0xcd, 1, 2, 3, 4, 5, 6, 7},
		TraceFlags: trace.FlagsSampled}))
	every := metric.WithAttributes(attribute.String("phase", "build"), attribute.Int("code", 200), attribute.Float64("ratio", 0.5),
		attribute.Bool("ok", true), attribute.StringSlice("tags", []string{"x", "y"}), attribute.Int64Slice("ints", []int64{1, -2}),
		attribute.Float64Slice("floats", []float64{0.25, 1e21}), attribute.BoolSlice("bools", []bool{true, false}))
	other := metric.WithAttributes(attribute.String("phase", "validate"))

	a := mp.Meter("github.com/mlops-dev/nbv", metric.WithInstrumentationVersion("1.2.3"), metric.WithSchemaURL("https://opentelemetry.io/schemas/1.24.0"))
	intCounter, _ := a.Int64Counter("events", metric.WithDescription("events handled"), metric.WithUnit("{event}"))
	intCounter.Add(sampled, 3, every)
	intCounter.Add(ctx, 0, other) // a zero value must still be sent
	floatCounter, _ := a.Float64Counter("busy", metric.WithUnit("s"))
	floatCounter.Add(ctx, 1.25, every)
	floatCounter.Add(ctx, 0, other)
	intUpDown, _ := a.Int64UpDownCounter("jobs.active")
	intUpDown.Add(ctx, 5, every)
	intUpDown.Add(ctx, -7, other)
	floatUpDown, _ := a.Float64UpDownCounter("queue.depth")
	floatUpDown.Add(ctx, -0.5)
	intGauge, _ := a.Int64Gauge("memory.limit", metric.WithUnit("By"))
	intGauge.Record(ctx, math.MaxInt64, every) // beyond a float64's exact integers
	intGauge.Record(ctx, math.MinInt64, other)
	floatGauge, _ := a.Float64Gauge("temperature")
	floatGauge.Record(ctx, 2.5e-7, every)
	floatGauge.Record(ctx, math.Inf(1), other)
	floatGauge.Record(ctx, math.NaN(), metric.WithAttributes(attribute.String("phase", "nan")))
	floatGauge.Record(ctx, math.Inf(-1), metric.WithAttributes(attribute.String("phase", "-inf")))
	floatHist, _ := a.Float64Histogram("duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0, 0.1, 1, 10))
	for _, v := range []float64{-1, 0.05, 0.5, 0.5, 3, 100} {
		floatHist.Record(sampled, v, every)
	}
	floatHist.Record(ctx, 0, other) // a sum of 0 is still sent: the field is optional
	intHist, _ := a.Int64Histogram("size", metric.WithUnit("By"))
	intHist.Record(ctx, 1024, every)
	intHist.Record(sampled, 7, every)

	b := mp.Meter("second", metric.WithInstrumentationAttributes(attribute.String("team", "ml"), attribute.Int("shard", 2)))
	expHist, _ := b.Float64Histogram("exp.latency")
	for _, v := range []float64{0, 0.001, 0.2, 5, -3, 1e6} {
		expHist.Record(ctx, v, every)
	}
	noMinMax, _ := b.Int64Histogram("no.minmax")
	noMinMax.Record(ctx, 4)
	_, _ = b.Int64ObservableCounter("observed", metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(42, other)
		return nil
	}))
	_, _ = b.Float64ObservableGauge("observed.ratio", metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
		o.Observe(0.75)
		return nil
	}))

	out := map[string]*metricdata.ResourceMetrics{}
	for name, r := range map[string]*sdkmetric.ManualReader{"cumulative": cumulative, "delta": delta} {
		var rm metricdata.ResourceMetrics
		if err := r.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		addSummary(&rm)
		out[name] = &rm
	}
	return out
}

func addSummary(rm *metricdata.ResourceMetrics) {
	now := time.Now()
	rm.ScopeMetrics[len(rm.ScopeMetrics)-1].Metrics = append(rm.ScopeMetrics[len(rm.ScopeMetrics)-1].Metrics, metricdata.Metrics{
		Name: "bridged.summary", Unit: "s",
		Data: metricdata.Summary{DataPoints: []metricdata.SummaryDataPoint{
			{Attributes: attribute.NewSet(attribute.String("phase", "build")), StartTime: now.Add(-time.Minute), Time: now, Count: 10, Sum: 12.5,
				QuantileValues: []metricdata.QuantileValue{{Quantile: 0, Value: 0.1}, {Quantile: 0.5, Value: 1}, {Quantile: 1, Value: 4}}},
			{Time: now}, // no attributes, start time, count, sum or quantiles
		}},
	})
}

func countMetrics(req *colmetricpb.ExportMetricsServiceRequest) int {
	n := 0
	for _, rm := range req.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			n += len(sm.Metrics)
		}
	}
	return n
}

// exportOurs is rm as NewMetricExporter posts it, decoded.
func exportOurs(t *testing.T, rm *metricdata.ResourceMetrics) *colmetricpb.ExportMetricsServiceRequest {
	t.Helper()
	c := newCollector(t)
	exp, err := otlpjson.NewMetricExporter(c.URL + "/v1/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(context.Background(), rm); err != nil {
		t.Fatal(err)
	}
	body, _ := c.last(t)
	req, err := otlpjsontest.DecodeMetrics(body)
	if err != nil {
		t.Fatalf("the export does not decode as OTLP: %v\n%s", err, body)
	}
	return req
}

// exportSDKs is rm as the SDK's OTLP/HTTP protobuf exporter posts it, decoded.
func exportSDKs(t *testing.T, rm *metricdata.ResourceMetrics) *colmetricpb.ExportMetricsServiceRequest {
	t.Helper()
	c := newCollector(t)
	exp, err := otlpmetrichttp.New(context.Background(), otlpmetrichttp.WithEndpointURL(c.URL+"/v1/metrics"),
		otlpmetrichttp.WithCompression(otlpmetrichttp.NoCompression), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(context.Background(), rm); err != nil {
		t.Fatal(err)
	}
	body, _ := c.last(t)
	var req colmetricpb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	return &req
}

// oneSum is a small ResourceMetrics for the tests of the transport.
func oneSum() *metricdata.ResourceMetrics {
	now := time.Now()
	return &metricdata.ResourceMetrics{Resource: sdkresource.Empty(), ScopeMetrics: []metricdata.ScopeMetrics{{
		Metrics: []metricdata.Metrics{{Name: "events", Data: metricdata.Sum[int64]{
			Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
			DataPoints: []metricdata.DataPoint[int64]{{StartTime: now, Time: now, Value: 1}}}}},
	}}}
}

func TestMetricExporterSelectsCumulativeAndDefaultAggregation(t *testing.T) {
	exp, err := otlpjson.NewMetricExporter("http://127.0.0.1:1/v1/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for k := sdkmetric.InstrumentKindCounter; k <= sdkmetric.InstrumentKindGauge; k++ {
		if got := exp.Temporality(k); got != metricdata.CumulativeTemporality {
			t.Errorf("temporality of %v: %v", k, got)
		}
		if got, want := exp.Aggregation(k), sdkmetric.DefaultAggregationSelector(k); !reflect.DeepEqual(got, want) {
			t.Errorf("aggregation of %v: %v, want %v", k, got, want)
		}
	}
}

func TestMetricHeadersOfTheSignalBeatTheShared(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-a=shared,x-b=shared")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-a=metrics%20own,Authorization=Bearer%20tok")
	c := newCollector(t)
	exp, err := otlpjson.NewMetricExporter(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(context.Background(), oneSum()); err != nil {
		t.Fatal(err)
	}
	_, h := c.last(t)
	if h.Get("X-A") != "metrics own" || h.Get("Authorization") != "Bearer tok" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
	// The signal's variable replaces the shared one as a whole, as in the SDK's exporters.
	if h.Get("X-B") != "" {
		t.Errorf("x-b %q came from OTEL_EXPORTER_OTLP_HEADERS although OTEL_EXPORTER_OTLP_METRICS_HEADERS is set", h.Get("X-B"))
	}
}

func TestMetricExportGzipped(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	c := newCollector(t)
	exp, err := otlpjson.NewMetricExporter(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(context.Background(), oneSum()); err != nil {
		t.Fatal(err)
	}
	body, h := c.last(t) // the collector gunzips
	if h.Get("Content-Encoding") != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip", h.Get("Content-Encoding"))
	}
	req, err := otlpjsontest.DecodeMetrics(body)
	if err != nil {
		t.Fatalf("the gunzipped body is not OTLP: %v\n%s", err, body)
	}
	if got := req.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].GetSum().DataPoints[0].GetAsInt(); got != 1 {
		t.Errorf("value %d, want 1", got)
	}
}

func TestMetricExportFailsOnRefusalNamingTheStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	exp, err := otlpjson.NewMetricExporter(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	err = exp.Export(context.Background(), oneSum())
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503 gave %v, want an error naming it", err)
	}
}

func TestMetricExportAfterShutdownFails(t *testing.T) {
	c := newCollector(t)
	exp, err := otlpjson.NewMetricExporter(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := exp.ForceFlush(ctx); err != nil {
		t.Errorf("ForceFlush: %v", err)
	}
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(ctx, oneSum()); err == nil {
		t.Error("Export after Shutdown succeeded")
	}
	if err := exp.Shutdown(ctx); err == nil {
		t.Error("a second Shutdown succeeded")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count != 0 {
		t.Errorf("%d requests after Shutdown", c.count)
	}
}

func TestNewMetricExporterRefusesBadVariablesNamingThem(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"OTEL_EXPORTER_OTLP_TIMEOUT", "ten"},
		{"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "-5"},
		{"OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"},
		{"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "br"},
		{"OTEL_EXPORTER_OTLP_METRICS_HEADERS", "novalue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			_, err := otlpjson.NewMetricExporter("http://127.0.0.1:1")
			if err == nil || !strings.Contains(err.Error(), tc.name) {
				t.Errorf("%s=%q gave %v, want an error naming the variable", tc.name, tc.value, err)
			}
		})
	}
}

// TestMetricWithUnknownTemporalityIsNamedNotDropped: a metric that cannot be encoded fails
// the export with its name, and the others are still sent.
func TestMetricWithUnknownTemporalityIsNamedNotDropped(t *testing.T) {
	rm := oneSum()
	rm.ScopeMetrics[0].Metrics = append(rm.ScopeMetrics[0].Metrics, metricdata.Metrics{Name: "broken",
		Data: metricdata.Histogram[float64]{Temporality: metricdata.Temporality(0)}})
	c := newCollector(t)
	exp, err := otlpjson.NewMetricExporter(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	err = exp.Export(context.Background(), rm)
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("Export gave %v, want an error naming the metric", err)
	}
	body, _ := c.last(t)
	req, err := otlpjsontest.DecodeMetrics(body)
	if err != nil {
		t.Fatal(err)
	}
	if ms := req.ResourceMetrics[0].ScopeMetrics[0].Metrics; len(ms) != 1 || ms[0].Name != "events" {
		t.Errorf("metrics sent %v, want the valid one", ms)
	}
}

func TestMetricExportOfNothingPostsNothing(t *testing.T) {
	c := newCollector(t)
	exp, err := otlpjson.NewMetricExporter(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	empty := &metricdata.ResourceMetrics{Resource: sdkresource.Empty(), ScopeMetrics: []metricdata.ScopeMetrics{{}}}
	if err := exp.Export(context.Background(), empty); err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count != 0 {
		t.Errorf("%d requests for no metrics", c.count)
	}
}
