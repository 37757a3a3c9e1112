// Package metrics owns the project's OpenTelemetry instruments (the Name* constants; README
// "Monitoring" lists them with their units and attributes, and config/monitoring alerts and
// charts them). Functions scale to zero, so nothing scrapes them reliably: metrics are pushed
// over OTLP/HTTP when an endpoint is configured and flushed when the function shuts down.
// Without an endpoint every recording function is a cheap no-op.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/mlops-dev/nbv/internal/otlpenv"
	"github.com/mlops-dev/nbv/internal/otlpjson"
)

// Instrument names, as they appear in an OTLP backend. Prometheus' OTLP receiver (default
// translation, UnderscoreEscapingWithSuffixes) stores them with dots as underscores, the unit
// as a suffix ("s" -> _seconds; {annotations} are dropped) and _total on counters: e.g.
// nbv.events.handled -> nbv_events_handled_total, nbv.handler.duration ->
// nbv_handler_duration_seconds_{bucket,sum,count}. Attribute names get the same escaping
// (cloudevents.event_type -> cloudevents_event_type) and service.name becomes the job label.
//
// Every attribute value comes from a small fixed set (phases, reasons, outcomes, accepted
// event types, function names): no job, pod or namespace name is ever an attribute.
const (
	NameEventsHandled      = "nbv.events.handled"
	NameHandlerDuration    = "nbv.handler.duration"
	NameTransitions        = "nbv.transitions"
	NamePhaseDuration      = "nbv.phase.duration"
	NamePodDelay           = "nbv.validation.pod.delay"
	NameBuildDuration      = "nbv.build.duration"
	NameValidationDuration = "nbv.validation.duration"
	NameCellDuration       = "nbv.runner.cell.duration"
	NameModelChecks        = "nbv.model.checks"
	NameRefusals           = "nbv.refusals"
	NameDeadLetters        = "nbv.dead_letters"
	NameSweepRecoveries    = "nbv.sweep.recoveries"
	NameJobsActive         = "nbv.jobs.active"
	NameJobsOverdue        = "nbv.jobs.overdue"
	NameColdStart          = "nbv.function.cold_start.duration"
)

// Attribute names. CloudEvents and HTTP attributes follow the OTel semantic conventions.
const (
	AttrEventType  = "cloudevents.event_type"
	AttrStatusCode = "http.response.status_code"
	AttrOutcome    = "outcome"
	AttrFrom       = "from"
	AttrTo         = "to"
	AttrReason     = "reason"
	AttrPhase      = "phase"
	AttrSince      = "since"
	AttrStrategy   = "strategy"
	AttrResult     = "result"
	AttrStatus     = "status"
	AttrCause      = "cause"
	AttrDest       = "destination"
)

// Values of AttrSince (RecordPodDelay) and AttrCause (RecordSweepRecovery).
const (
	SinceBuildCompleted = "build_completed"
	SinceJobCreated     = "job_created"
	CauseDeadline       = "deadline"
	CauseLostEvent      = "lost_event"
	// CauseInFlight: the sweep got to a state seconds old, before its event's function did.
	CauseInFlight = "in_flight"
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
	handler     metric.Float64Histogram
	transitions metric.Int64Counter
	phase       metric.Float64Histogram
	podDelay    metric.Float64Histogram
	build       metric.Float64Histogram
	validation  metric.Float64Histogram
	cell        metric.Float64Histogram
	models      metric.Int64Counter
	refusals    metric.Int64Counter
	deadLetters metric.Int64Counter
	recoveries  metric.Int64Counter
	active      metric.Int64Gauge
	overdue     metric.Int64Gauge
	coldStart   metric.Float64Histogram
}

var current atomic.Pointer[instruments]

func init() {
	// Instruments of the no-op provider never fail to be created.
	in, _ := newInstruments(noop.NewMeterProvider())
	current.Store(in)
}

// Bucket boundaries, in seconds.
var (
	fastBuckets  = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	delayBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600}
	phaseBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400}
	buildBuckets = []float64{15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200}
	runBuckets   = []float64{5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	cellBuckets  = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800}
)

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	m := mp.Meter(meterName)
	var in instruments
	var errs []error
	counter := func(dst *metric.Int64Counter, name, unit, desc string) {
		var err error
		if *dst, err = m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc)); err != nil {
			errs = append(errs, fmt.Errorf("create %s: %w", name, err))
		}
	}
	histogram := func(dst *metric.Float64Histogram, name, desc string, buckets []float64) {
		var err error
		if *dst, err = m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(buckets...)); err != nil {
			errs = append(errs, fmt.Errorf("create %s: %w", name, err))
		}
	}
	gauge := func(dst *metric.Int64Gauge, name, unit, desc string) {
		var err error
		if *dst, err = m.Int64Gauge(name, metric.WithUnit(unit), metric.WithDescription(desc)); err != nil {
			errs = append(errs, fmt.Errorf("create %s: %w", name, err))
		}
	}
	counter(&in.events, NameEventsHandled, "{event}", "CloudEvents handled, by type and outcome")
	histogram(&in.handler, NameHandlerDuration, "Time to handle one CloudEvent, by type and outcome", fastBuckets)
	counter(&in.transitions, NameTransitions, "{transition}", "Job status writes, by from and to phase and the decision's reason")
	histogram(&in.phase, NamePhaseDuration, "Time a job spent in a phase, recorded when it leaves the phase", phaseBuckets)
	histogram(&in.podDelay, NamePodDelay, "From the build's completion (or the job's creation, without a build) to the validation pod's creation", delayBuckets)
	histogram(&in.build, NameBuildDuration, "Image build wall time, by strategy and result", buildBuckets)
	histogram(&in.validation, NameValidationDuration, "Notebook validation wall time, by result and the runner's reason", runBuckets)
	histogram(&in.cell, NameCellDuration, "Wall time of each notebook cell the runner executed, by status (from the runner's summary)", cellBuckets)
	counter(&in.models, NameModelChecks, "{job}", "Jobs that waited for their target models, by result (ready, timed_out)")
	counter(&in.refusals, NameRefusals, "{refusal}", "Jobs refused (their child rejected, not permitted, unsupported) and namespaces the sweep was refused, by reason")
	counter(&in.deadLetters, NameDeadLetters, "{event}", "Events the broker gave up delivering and sent to the dead-letter sink, by type and destination function")
	counter(&in.recoveries, NameSweepRecoveries, "{job}", "Jobs the sweep moved: each one a lost event or a deadline nobody else enforced")
	gauge(&in.active, NameJobsActive, "{job}", "Unfinished jobs by phase, as the sweep listed them")
	gauge(&in.overdue, NameJobsOverdue, "{job}", "Unfinished jobs past their deadline by phase, as the sweep listed them")
	histogram(&in.coldStart, NameColdStart, "From process start to the first event answered, once per function process", delayBuckets)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
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
	endpoint, err := otlpenv.SignalURL(o.Endpoint, "metrics")
	if err != nil {
		return nil, err
	}
	exp, err := otlpjson.NewMetricExporter(endpoint)
	if err != nil {
		return nil, fmt.Errorf("create OTLP/HTTP metric exporter for %s: %w", o.Endpoint, err)
	}
	interval := o.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	res, err := otlpenv.Resource(o.ServiceName)
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval))),
	)
	restore, err := Install(mp)
	if err != nil {
		_ = mp.Shutdown(ctx)
		return nil, err
	}
	return func(ctx context.Context) error {
		restore()
		// Shutdown of the provider runs a final collect and export before closing the exporter.
		if err := mp.Shutdown(ctx); err != nil {
			return fmt.Errorf("flush metrics to %s: %w", o.Endpoint, err)
		}
		return nil
	}, nil
}

// Install makes mp's instruments the current ones; restore puts the no-op instruments back.
// Start uses it; tests use it with a manual reader (package metricstest).
func Install(mp metric.MeterProvider) (restore func(), err error) {
	in, err := newInstruments(mp)
	if err != nil {
		return nil, err
	}
	current.Store(in)
	return func() {
		noopIn, _ := newInstruments(noop.NewMeterProvider())
		current.Store(noopIn)
	}, nil
}

// phaseLabel names the empty phase (or reason) so that dashboards do not show a blank series.
func phaseLabel(p string) string {
	if p == "" {
		return "None"
	}
	return p
}

// RecordEvent counts one handled CloudEvent and its latency. outcome is a small fixed set
// chosen by the caller (e.g. "reply", "done", "bad_input", "retry"); eventType is an accepted
// type or "other" (senders choose types).
func RecordEvent(ctx context.Context, eventType, outcome string, latency time.Duration) {
	in := current.Load()
	attrs := metric.WithAttributes(attribute.String(AttrEventType, eventType), attribute.String(AttrOutcome, outcome))
	in.events.Add(ctx, 1, attrs)
	in.handler.Record(ctx, latency.Seconds(), attrs)
}

// RecordTransition counts one written status change; reason is the decision's reason (one of
// the state machine's constants).
func RecordTransition(ctx context.Context, from, to, reason string) {
	current.Load().transitions.Add(ctx, 1, metric.WithAttributes(
		attribute.String(AttrFrom, phaseLabel(from)), attribute.String(AttrTo, phaseLabel(to)), attribute.String(AttrReason, reason)))
}

// RecordPhaseDuration records the time a job spent in phase, when it left it.
func RecordPhaseDuration(ctx context.Context, phase string, d time.Duration) {
	current.Load().phase.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String(AttrPhase, phaseLabel(phase))))
}

// RecordPodDelay records the time from since (SinceBuildCompleted, SinceJobCreated) to the
// creation of the job's first validation pod.
func RecordPodDelay(ctx context.Context, since string, d time.Duration) {
	current.Load().podDelay.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String(AttrSince, since)))
}

// RecordBuildDuration records a finished build's wall time; result is the phase it led to.
func RecordBuildDuration(ctx context.Context, strategy, result string, d time.Duration) {
	current.Load().build.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String(AttrStrategy, strategy), attribute.String(AttrResult, result)))
}

// RecordValidationDuration records a finished notebook validation's wall time; result is the
// phase it led to, reason the runner's summary reason ("" when the pod left none).
func RecordValidationDuration(ctx context.Context, result, reason string, d time.Duration) {
	current.Load().validation.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String(AttrResult, result), attribute.String(AttrReason, phaseLabel(reason))))
}

// RecordCell records one executed cell's wall time; status is Success, Failure or Skipped.
func RecordCell(ctx context.Context, status string, d time.Duration) {
	current.Load().cell.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String(AttrStatus, status)))
}

// RecordModelCheck counts a job that stopped waiting for its target models; result is
// "ready" or "timed_out".
func RecordModelCheck(ctx context.Context, result string) {
	current.Load().models.Add(ctx, 1, metric.WithAttributes(attribute.String(AttrResult, result)))
}

// RecordRefusal counts one refusal by its reason (a state machine or sweep reason constant).
func RecordRefusal(ctx context.Context, reason string) {
	current.Load().refusals.Add(ctx, 1, metric.WithAttributes(attribute.String(AttrReason, reason)))
}

// RecordDeadLetter counts one dead-lettered event: its type (accepted types only, else
// "other"), the function it could not be delivered to (else "other") and the last HTTP
// status that function answered (0 when none).
func RecordDeadLetter(ctx context.Context, eventType, destination string, status int) {
	current.Load().deadLetters.Add(ctx, 1, metric.WithAttributes(attribute.String(AttrEventType, eventType),
		attribute.String(AttrDest, destination), attribute.Int(AttrStatusCode, status)))
}

// RecordSweepRecovery counts one job the sweep moved from phase; cause is CauseDeadline,
// CauseLostEvent or CauseInFlight.
func RecordSweepRecovery(ctx context.Context, phase, cause string) {
	current.Load().recoveries.Add(ctx, 1, metric.WithAttributes(
		attribute.String(AttrPhase, phaseLabel(phase)), attribute.String(AttrCause, cause)))
}

// RecordJobsListed records, per unfinished phase, how many jobs the sweep listed and how many
// of them were past their deadline.
func RecordJobsListed(ctx context.Context, phase string, active, overdue int) {
	in := current.Load()
	attrs := metric.WithAttributes(attribute.String(AttrPhase, phaseLabel(phase)))
	in.active.Record(ctx, int64(active), attrs)
	in.overdue.Record(ctx, int64(overdue), attrs)
}

// RecordColdStart records the time from process start to the first event answered.
func RecordColdStart(ctx context.Context, d time.Duration) {
	current.Load().coldStart.Record(ctx, d.Seconds())
}
