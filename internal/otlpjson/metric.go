package otlpjson

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// MetricExporter posts metrics to an OTLP/HTTP metrics URL. It keeps no state between
// exports (each is one synchronous request), so ForceFlush has nothing to do.
type MetricExporter struct {
	sender *sender
	shut   atomic.Bool
}

// errMetricExporterShutdown is what Export answers once Shutdown has been called, as the
// SDK's exporters do: a reader must not believe a late export went anywhere.
var errMetricExporterShutdown = errors.New("otlpjson: metric exporter is shut down")

// NewMetricExporter exports to url (the full metrics URL, e.g.
// http://collector:4318/v1/metrics), configured by the OTEL_EXPORTER_OTLP_[METRICS_]*
// variables (see sender).
func NewMetricExporter(url string) (sdkmetric.Exporter, error) {
	s, err := newSender(url, "metrics")
	if err != nil {
		return nil, err
	}
	return &MetricExporter{sender: s}, nil
}

// Temporality is cumulative for every instrument kind, the SDK's default (and the SDK's
// OTLP exporters' without OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).
func (*MetricExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

// Aggregation is the SDK's default for k (explicit-bucket histograms for histograms).
func (*MetricExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

// Export posts rm as one ExportMetricsServiceRequest. A metric that cannot be encoded (an
// unknown aggregation or temporality) is left out and named in the returned error; the others
// are still sent, as the SDK's exporters do. Nothing is posted when rm holds no metric: a
// function that recorded nothing must not pay a request at shutdown.
func (e *MetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if e.shut.Load() {
		return errMetricExporterShutdown
	}
	req, n, encodeErr := encodeResourceMetrics(rm)
	if n == 0 {
		return encodeErr
	}
	if err := e.sender.post(ctx, req, fmt.Sprintf("%d metrics", n)); err != nil {
		return errors.Join(err, encodeErr)
	}
	return encodeErr
}

// ForceFlush has nothing to flush: every export is synchronous.
func (*MetricExporter) ForceFlush(ctx context.Context) error { return ctx.Err() }

// Shutdown makes later exports fail and closes idle connections. A second Shutdown is an
// error, as with the SDK's exporters.
func (e *MetricExporter) Shutdown(ctx context.Context) error {
	if e.shut.Swap(true) {
		return errMetricExporterShutdown
	}
	e.sender.client.CloseIdleConnections()
	return ctx.Err()
}

// The OTLP JSON encoding of metrics (opentelemetry-proto metrics.proto); see common.go for
// the rules. A metric has exactly one of Sum, Gauge, Histogram, ExponentialHistogram, Summary.
type (
	metricsRequest struct {
		ResourceMetrics []resourceMetrics `json:"resourceMetrics"`
	}
	resourceMetrics struct {
		Resource     resource       `json:"resource"`
		ScopeMetrics []scopeMetrics `json:"scopeMetrics"`
		SchemaURL    string         `json:"schemaUrl,omitempty"`
	}
	scopeMetrics struct {
		Scope     scope    `json:"scope"`
		Metrics   []metric `json:"metrics"`
		SchemaURL string   `json:"schemaUrl,omitempty"`
	}
	metric struct {
		Name                 string                `json:"name"`
		Description          string                `json:"description,omitempty"`
		Unit                 string                `json:"unit,omitempty"`
		Sum                  *sum                  `json:"sum,omitempty"`
		Gauge                *gauge                `json:"gauge,omitempty"`
		Histogram            *histogram            `json:"histogram,omitempty"`
		ExponentialHistogram *exponentialHistogram `json:"exponentialHistogram,omitempty"`
		Summary              *summary              `json:"summary,omitempty"`
	}
	sum struct {
		DataPoints             []numberDataPoint `json:"dataPoints"`
		AggregationTemporality int               `json:"aggregationTemporality"`
		IsMonotonic            bool              `json:"isMonotonic,omitempty"`
	}
	gauge struct {
		DataPoints []numberDataPoint `json:"dataPoints"`
	}
	numberDataPoint struct {
		Attributes        []keyValue `json:"attributes,omitempty"`
		StartTimeUnixNano string     `json:"startTimeUnixNano"`
		TimeUnixNano      string     `json:"timeUnixNano"`
		AsInt             *string    `json:"asInt,omitempty"`
		AsDouble          *double    `json:"asDouble,omitempty"`
		Exemplars         []exemplar `json:"exemplars,omitempty"`
	}
	histogram struct {
		DataPoints             []histogramDataPoint `json:"dataPoints"`
		AggregationTemporality int                  `json:"aggregationTemporality"`
	}
	histogramDataPoint struct {
		Attributes        []keyValue `json:"attributes,omitempty"`
		StartTimeUnixNano string     `json:"startTimeUnixNano"`
		TimeUnixNano      string     `json:"timeUnixNano"`
		Count             string     `json:"count"`
		Sum               *double    `json:"sum,omitempty"` // optional in the proto: sent even when 0
		BucketCounts      []string   `json:"bucketCounts,omitempty"`
		ExplicitBounds    []double   `json:"explicitBounds,omitempty"`
		Exemplars         []exemplar `json:"exemplars,omitempty"`
		Min               *double    `json:"min,omitempty"`
		Max               *double    `json:"max,omitempty"`
	}
	exponentialHistogram struct {
		DataPoints             []exponentialHistogramDataPoint `json:"dataPoints"`
		AggregationTemporality int                             `json:"aggregationTemporality"`
	}
	exponentialHistogramDataPoint struct {
		Attributes        []keyValue `json:"attributes,omitempty"`
		StartTimeUnixNano string     `json:"startTimeUnixNano"`
		TimeUnixNano      string     `json:"timeUnixNano"`
		Count             string     `json:"count"`
		Sum               *double    `json:"sum,omitempty"`
		Scale             int32      `json:"scale,omitempty"`
		ZeroCount         string     `json:"zeroCount"`
		Positive          buckets    `json:"positive"`
		Negative          buckets    `json:"negative"`
		Exemplars         []exemplar `json:"exemplars,omitempty"`
		Min               *double    `json:"min,omitempty"`
		Max               *double    `json:"max,omitempty"`
		ZeroThreshold     double     `json:"zeroThreshold,omitempty"`
	}
	buckets struct {
		Offset       int32    `json:"offset,omitempty"`
		BucketCounts []string `json:"bucketCounts,omitempty"`
	}
	summary struct {
		DataPoints []summaryDataPoint `json:"dataPoints"`
	}
	summaryDataPoint struct {
		Attributes        []keyValue        `json:"attributes,omitempty"`
		StartTimeUnixNano string            `json:"startTimeUnixNano"`
		TimeUnixNano      string            `json:"timeUnixNano"`
		Count             string            `json:"count"`
		Sum               double            `json:"sum"`
		QuantileValues    []valueAtQuantile `json:"quantileValues,omitempty"`
	}
	valueAtQuantile struct {
		Quantile double `json:"quantile"`
		Value    double `json:"value"`
	}
	exemplar struct {
		FilteredAttributes []keyValue `json:"filteredAttributes,omitempty"`
		TimeUnixNano       string     `json:"timeUnixNano"`
		AsInt              *string    `json:"asInt,omitempty"`
		AsDouble           *double    `json:"asDouble,omitempty"`
		SpanID             string     `json:"spanId,omitempty"`  // hex, as in spans
		TraceID            string     `json:"traceId,omitempty"` // hex
	}
)

// encodeResourceMetrics is rm as an ExportMetricsServiceRequest, with the number of metrics
// it holds and the error of every metric left out.
func encodeResourceMetrics(rm *metricdata.ResourceMetrics) (metricsRequest, int, error) {
	if rm == nil {
		return metricsRequest{}, 0, nil
	}
	out := resourceMetrics{Resource: encodeResource(rm.Resource), SchemaURL: rm.Resource.SchemaURL()}
	n := 0
	var errs []error
	for _, sm := range rm.ScopeMetrics {
		ss := scopeMetrics{Scope: encodeScope(sm.Scope), SchemaURL: sm.Scope.SchemaURL, Metrics: []metric{}}
		for _, m := range sm.Metrics {
			em, err := encodeMetric(m)
			if err != nil {
				errs = append(errs, fmt.Errorf("encode metric %s: %w", m.Name, err))
				continue
			}
			ss.Metrics = append(ss.Metrics, em)
			n++
		}
		out.ScopeMetrics = append(out.ScopeMetrics, ss)
	}
	return metricsRequest{ResourceMetrics: []resourceMetrics{out}}, n, errors.Join(errs...)
}

func encodeMetric(m metricdata.Metrics) (metric, error) {
	out := metric{Name: m.Name, Description: m.Description, Unit: m.Unit}
	var err error
	switch data := m.Data.(type) {
	case metricdata.Sum[int64]:
		out.Sum, err = encodeSum(data)
	case metricdata.Sum[float64]:
		out.Sum, err = encodeSum(data)
	case metricdata.Gauge[int64]:
		out.Gauge = &gauge{DataPoints: numberDataPoints(data.DataPoints)}
	case metricdata.Gauge[float64]:
		out.Gauge = &gauge{DataPoints: numberDataPoints(data.DataPoints)}
	case metricdata.Histogram[int64]:
		out.Histogram, err = encodeHistogram(data)
	case metricdata.Histogram[float64]:
		out.Histogram, err = encodeHistogram(data)
	case metricdata.ExponentialHistogram[int64]:
		out.ExponentialHistogram, err = encodeExponentialHistogram(data)
	case metricdata.ExponentialHistogram[float64]:
		out.ExponentialHistogram, err = encodeExponentialHistogram(data)
	case metricdata.Summary:
		out.Summary = encodeSummary(data)
	default:
		err = fmt.Errorf("unsupported aggregation %T", m.Data)
	}
	return out, err
}

// temporality is t as OTLP's AggregationTemporality: 1 delta, 2 cumulative.
func temporality(t metricdata.Temporality) (int, error) {
	switch t {
	case metricdata.DeltaTemporality:
		return 1, nil
	case metricdata.CumulativeTemporality:
		return 2, nil
	}
	return 0, fmt.Errorf("unknown temporality %s", t)
}

func encodeSum[N int64 | float64](s metricdata.Sum[N]) (*sum, error) {
	t, err := temporality(s.Temporality)
	if err != nil {
		return nil, err
	}
	return &sum{DataPoints: numberDataPoints(s.DataPoints), AggregationTemporality: t, IsMonotonic: s.IsMonotonic}, nil
}

func numberDataPoints[N int64 | float64](dps []metricdata.DataPoint[N]) []numberDataPoint {
	out := make([]numberDataPoint, 0, len(dps))
	for _, dp := range dps {
		p := numberDataPoint{Attributes: attrs(dp.Attributes.ToSlice()),
			StartTimeUnixNano: unixNano(dp.StartTime), TimeUnixNano: unixNano(dp.Time), Exemplars: exemplars(dp.Exemplars)}
		p.AsInt, p.AsDouble = number(dp.Value)
		out = append(out, p)
	}
	return out
}

// number is v as the asInt (int64, a decimal string) or asDouble member of a data point's
// value oneof; the other is nil.
func number[N int64 | float64](v N) (*string, *double) {
	switch v := any(v).(type) {
	case int64:
		s := strconv.FormatInt(v, 10)
		return &s, nil
	case float64:
		d := double(v)
		return nil, &d
	}
	return nil, nil // unreachable: N is int64 or float64
}

func encodeHistogram[N int64 | float64](h metricdata.Histogram[N]) (*histogram, error) {
	t, err := temporality(h.Temporality)
	if err != nil {
		return nil, err
	}
	out := &histogram{AggregationTemporality: t, DataPoints: make([]histogramDataPoint, 0, len(h.DataPoints))}
	for _, dp := range h.DataPoints {
		bounds := make([]double, len(dp.Bounds))
		for i, b := range dp.Bounds {
			bounds[i] = double(b)
		}
		out.DataPoints = append(out.DataPoints, histogramDataPoint{Attributes: attrs(dp.Attributes.ToSlice()),
			StartTimeUnixNano: unixNano(dp.StartTime), TimeUnixNano: unixNano(dp.Time),
			Count: strconv.FormatUint(dp.Count, 10), Sum: doublePtr(dp.Sum),
			BucketCounts: uint64Strings(dp.BucketCounts), ExplicitBounds: bounds,
			Exemplars: exemplars(dp.Exemplars), Min: extremum(dp.Min), Max: extremum(dp.Max)})
	}
	return out, nil
}

func encodeExponentialHistogram[N int64 | float64](h metricdata.ExponentialHistogram[N]) (*exponentialHistogram, error) {
	t, err := temporality(h.Temporality)
	if err != nil {
		return nil, err
	}
	out := &exponentialHistogram{AggregationTemporality: t, DataPoints: make([]exponentialHistogramDataPoint, 0, len(h.DataPoints))}
	for _, dp := range h.DataPoints {
		out.DataPoints = append(out.DataPoints, exponentialHistogramDataPoint{Attributes: attrs(dp.Attributes.ToSlice()),
			StartTimeUnixNano: unixNano(dp.StartTime), TimeUnixNano: unixNano(dp.Time),
			Count: strconv.FormatUint(dp.Count, 10), Sum: doublePtr(dp.Sum), Scale: dp.Scale,
			ZeroCount: strconv.FormatUint(dp.ZeroCount, 10), ZeroThreshold: double(dp.ZeroThreshold),
			Positive:  buckets{Offset: dp.PositiveBucket.Offset, BucketCounts: uint64Strings(dp.PositiveBucket.Counts)},
			Negative:  buckets{Offset: dp.NegativeBucket.Offset, BucketCounts: uint64Strings(dp.NegativeBucket.Counts)},
			Exemplars: exemplars(dp.Exemplars), Min: extremum(dp.Min), Max: extremum(dp.Max)})
	}
	return out, nil
}

func encodeSummary(s metricdata.Summary) *summary {
	out := &summary{DataPoints: make([]summaryDataPoint, 0, len(s.DataPoints))}
	for _, dp := range s.DataPoints {
		p := summaryDataPoint{Attributes: attrs(dp.Attributes.ToSlice()),
			StartTimeUnixNano: unixNano(dp.StartTime), TimeUnixNano: unixNano(dp.Time),
			Count: strconv.FormatUint(dp.Count, 10), Sum: double(dp.Sum)}
		for _, q := range dp.QuantileValues {
			p.QuantileValues = append(p.QuantileValues, valueAtQuantile{Quantile: double(q.Quantile), Value: double(q.Value)})
		}
		out.DataPoints = append(out.DataPoints, p)
	}
	return out
}

// exemplars are encoded although the functions record none: the SDK samples them by default
// (OTEL_METRICS_EXEMPLAR_FILTER=trace_based) whenever a measurement is made under a sampled
// span, so they may appear without anyone asking.
func exemplars[N int64 | float64](es []metricdata.Exemplar[N]) []exemplar {
	if len(es) == 0 {
		return nil
	}
	out := make([]exemplar, 0, len(es))
	for _, e := range es {
		x := exemplar{FilteredAttributes: attrs(e.FilteredAttributes), TimeUnixNano: unixNano(e.Time),
			SpanID: hex.EncodeToString(e.SpanID), TraceID: hex.EncodeToString(e.TraceID)}
		x.AsInt, x.AsDouble = number(e.Value)
		out = append(out, x)
	}
	return out
}

// extremum is a histogram's min or max, nil when undefined (no measurement, or the
// aggregation does not record it): the proto field is optional.
func extremum[N int64 | float64](e metricdata.Extrema[N]) *double {
	v, ok := e.Value()
	if !ok {
		return nil
	}
	return doublePtr(v)
}

func doublePtr[N int64 | float64](v N) *double {
	d := double(v)
	return &d
}

func uint64Strings(vs []uint64) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strconv.FormatUint(v, 10)
	}
	return out
}
