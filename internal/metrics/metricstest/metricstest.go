// Package metricstest collects what code records through package metrics, with the OTel
// SDK's manual reader, for tests that assert instruments and their attributes.
package metricstest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Kinds of Instrument.
const (
	Counter   = "counter"
	Gauge     = "gauge"
	Histogram = "histogram"
	UpDown    = "updowncounter"
)

// Point is one data point: its attributes (values as text) and its value (a counter's sum, a
// gauge's value, a histogram's count of observations).
type Point struct {
	Attrs map[string]string
	Value float64
	Sum   float64 // a histogram's sum of observations
}

// Instrument is what one instrument recorded.
type Instrument struct {
	Kind   string
	Unit   string
	Points []Point
}

// Collect installs a meter provider with a manual reader through install (metrics.Install),
// runs record, restores the previous instruments, and returns what was recorded by name.
func Collect(t testing.TB, install func(metric.MeterProvider) (func(), error), record func(context.Context)) map[string]Instrument {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	restore, err := install(mp)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	ctx := context.Background()
	record(ctx)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]Instrument{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			in := Instrument{Unit: m.Unit}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				in.Kind = UpDown
				if d.IsMonotonic {
					in.Kind = Counter
				}
				for _, p := range d.DataPoints {
					in.Points = append(in.Points, Point{Attrs: attrs(p.Attributes), Value: float64(p.Value)})
				}
			case metricdata.Gauge[int64]:
				in.Kind = Gauge
				for _, p := range d.DataPoints {
					in.Points = append(in.Points, Point{Attrs: attrs(p.Attributes), Value: float64(p.Value)})
				}
			case metricdata.Histogram[float64]:
				in.Kind = Histogram
				for _, p := range d.DataPoints {
					in.Points = append(in.Points, Point{Attrs: attrs(p.Attributes), Value: float64(p.Count), Sum: p.Sum})
				}
			default:
				t.Fatalf("%s: data of type %T is not handled by metricstest", m.Name, m.Data)
			}
			out[m.Name] = in
		}
	}
	return out
}

func attrs(set attribute.Set) map[string]string {
	a := map[string]string{}
	for _, kv := range set.ToSlice() {
		a[string(kv.Key)] = kv.Value.Emit()
	}
	return a
}
