// Package metrics owns the project's OpenTelemetry instruments: events handled, transitions,
// handler latency, build and validation durations. Functions scale to zero, so nothing scrapes
// them reliably: metrics are pushed over OTLP/HTTP when an endpoint is configured and flushed when
// the function shuts down. Without an endpoint every recording function is a cheap no-op.
package metrics

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Instrument names, as they appear in the backend.
const (
	NameEventsHandled      = "nbv.events.handled"
	NameTransitions        = "nbv.transitions"
	NameHandlerDuration    = "nbv.handler.duration"
	NameBuildDuration      = "nbv.build.duration"
	NameValidationDuration = "nbv.validation.duration"
)

const meterName = "github.com/mlops-dev/nbv"

// Options configure Start.
type Options struct {
	// Endpoint is the OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT), e.g.
	// "http://otel-collector.observability:4318"; "/v1/metrics" is appended. Empty disables export.
	Endpoint string
	// ServiceName becomes the service.name resource attribute (K_SERVICE in Knative).
	ServiceName string
	// Interval between periodic exports while running; default 30s. The export at shutdown is
	// the one that matters for a function that lives for one event.
	Interval time.Duration
}

type instruments struct {
	events      metric.Int64Counter
	transitions metric.Int64Counter
	handler     metric.Float64Histogram
	build       metric.Float64Histogram
	validation  metric.Float64Histogram
}

var current atomic.Pointer[instruments]

func init() {
	// Instruments of the no-op provider never fail to be created.
	in, _ := newInstruments(noop.NewMeterProvider())
	current.Store(in)
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	m := mp.Meter(meterName)
	var in instruments
	var err error
	if in.events, err = m.Int64Counter(NameEventsHandled, metric.WithUnit("{event}"),
		metric.WithDescription("CloudEvents handled, by type and outcome")); err != nil {
		return nil, fmt.Errorf("create %s: %w", NameEventsHandled, err)
	}
	if in.transitions, err = m.Int64Counter(NameTransitions, metric.WithUnit("{transition}"),
		metric.WithDescription("Job phase transitions written, by from and to phase")); err != nil {
		return nil, fmt.Errorf("create %s: %w", NameTransitions, err)
	}
	if in.handler, err = m.Float64Histogram(NameHandlerDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to handle one CloudEvent, by type and outcome"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)); err != nil {
		return nil, fmt.Errorf("create %s: %w", NameHandlerDuration, err)
	}
	if in.build, err = m.Float64Histogram(NameBuildDuration, metric.WithUnit("s"),
		metric.WithDescription("Image build wall time, by strategy and result"),
		metric.WithExplicitBucketBoundaries(15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)); err != nil {
		return nil, fmt.Errorf("create %s: %w", NameBuildDuration, err)
	}
	if in.validation, err = m.Float64Histogram(NameValidationDuration, metric.WithUnit("s"),
		metric.WithDescription("Notebook validation wall time, by result"),
		metric.WithExplicitBucketBoundaries(5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)); err != nil {
		return nil, fmt.Errorf("create %s: %w", NameValidationDuration, err)
	}
	return &in, nil
}

// Start installs an OTLP/HTTP exporting provider when o.Endpoint is set. The returned shutdown
// flushes what was recorded and restores the no-op instruments; call it once, with a context
// bounding the flush. With no endpoint, shutdown does nothing.
func Start(ctx context.Context, o Options) (shutdown func(context.Context) error, err error) {
	if o.Endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP endpoint %q: want an http(s) base URL such as http://otel-collector:4318", o.Endpoint)
	}
	exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(strings.TrimSuffix(o.Endpoint, "/")+"/v1/metrics"))
	if err != nil {
		return nil, fmt.Errorf("create OTLP/HTTP metric exporter for %s: %w", o.Endpoint, err)
	}
	interval := o.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	service := o.ServiceName
	if service == "" {
		service = "nbv"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", service)))
	if err != nil {
		return nil, fmt.Errorf("build metric resource: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval))),
	)
	in, err := newInstruments(mp)
	if err != nil {
		_ = mp.Shutdown(ctx)
		return nil, err
	}
	current.Store(in)
	return func(ctx context.Context) error {
		noopIn, _ := newInstruments(noop.NewMeterProvider())
		current.Store(noopIn)
		// Shutdown of the provider runs a final collect and export before closing the exporter.
		if err := mp.Shutdown(ctx); err != nil {
			return fmt.Errorf("flush metrics to %s: %w", o.Endpoint, err)
		}
		return nil
	}, nil
}

// phaseLabel names the empty phase so that dashboards do not show a blank series.
func phaseLabel(p string) string {
	if p == "" {
		return "None"
	}
	return p
}

// RecordEvent counts one handled CloudEvent and its latency. outcome is a small fixed set
// chosen by the caller (e.g. "reply", "done", "bad_input", "retry").
func RecordEvent(ctx context.Context, eventType, outcome string, latency time.Duration) {
	in := current.Load()
	attrs := metric.WithAttributes(attribute.String("event.type", eventType), attribute.String("outcome", outcome))
	in.events.Add(ctx, 1, attrs)
	in.handler.Record(ctx, latency.Seconds(), attrs)
}

// RecordTransition counts one written phase transition.
func RecordTransition(ctx context.Context, from, to string) {
	current.Load().transitions.Add(ctx, 1, metric.WithAttributes(
		attribute.String("from", phaseLabel(from)), attribute.String("to", phaseLabel(to))))
}

// RecordBuildDuration records a finished build's wall time; result is e.g. "succeeded" or "failed".
func RecordBuildDuration(ctx context.Context, strategy, result string, d time.Duration) {
	current.Load().build.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String("strategy", strategy), attribute.String("result", result)))
}

// RecordValidationDuration records a finished notebook validation's wall time.
func RecordValidationDuration(ctx context.Context, result string, d time.Duration) {
	current.Load().validation.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("result", result)))
}
