// Package tracing gives every job one OpenTelemetry trace, exported over OTLP/HTTP when an
// endpoint is configured (the same OTEL_EXPORTER_OTLP_ENDPOINT as the metrics, "/v1/traces"
// appended) and a no-op otherwise: without an endpoint Enabled is false and no span, no
// parse of an event's data and no ID is made.
//
// A job's trace context is derived from its UID, which every event about the job already
// carries (the job's own metadata.uid, or the controller ownerReference of its pod and build
// child): the trace ID is the UID's 16 bytes (`kubectl get nvj NAME -o
// jsonpath='{.metadata.uid}' | tr -d -` is the trace ID to look up), and the job's root span
// ID is the first 8 bytes of SHA-256 of the UID. So events of one job hours apart join the
// same trace with no annotation to write and no API request (a status write cannot carry
// metadata: the status subresource drops it). The root span itself ("nbv job") is emitted
// by whichever function writes the job's terminal phase, from the job's creation to then.
package tracing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mlops-dev/nbv/internal/otlpenv"
)

// ScopeName is the instrumentation scope of every span this project makes.
const ScopeName = "github.com/mlops-dev/nbv"

// Span names. Each is low-cardinality; the job, pod and event are attributes.
const (
	SpanJob    = "nbv job"
	SpanDecode = "decode"
	SpanRead   = "read"
	SpanDecide = "decide"
	SpanWrite  = "write"
	// SpanStep is a step of a job made by a function woken by an event that is not the
	// job's (the sweep's ping, an external CI event): it joins the job's trace and links
	// the event's span.
	SpanStep = "step"
)

// Attribute names: the CloudEvents and messaging semantic conventions, then our own.
const (
	AttrCEID          = "cloudevents.event_id"
	AttrCEType        = "cloudevents.event_type"
	AttrCESource      = "cloudevents.event_source"
	AttrCESubject     = "cloudevents.event_subject"
	AttrCESpecVersion = "cloudevents.event_spec_version"
	AttrMsgSystem     = "messaging.system"
	AttrMsgOperation  = "messaging.operation.type"
	AttrMsgOpName     = "messaging.operation.name"
	AttrMsgDest       = "messaging.destination.name"
	AttrMsgID         = "messaging.message.id"
	AttrMsgBodySize   = "messaging.message.body.size"
	AttrStatusCode    = "http.response.status_code"
	AttrNamespace     = "k8s.namespace.name"
	AttrJobName       = "nbv.job.name"
	AttrJobUID        = "nbv.job.uid"
	AttrOutcome       = "nbv.outcome"
	AttrFrom          = "nbv.phase.from"
	AttrTo            = "nbv.phase.to"
	AttrReason        = "nbv.reason"
	AttrEffect        = "nbv.effect"
)

// TektonAnnotation is the PipelineRun annotation Tekton's reconciler reads its parent span
// context from (tektoncd/pipeline pkg/reconciler/pipelinerun/tracing.go): a JSON map holding
// a W3C "traceparent".
const TektonAnnotation = "tekton.dev/pipelinerunSpanContext"

// AnnotationTraceparent, on a job, is a W3C traceparent its creator chose (a CI pipeline
// applying it): the job's root span links to it. It is only read, never written.
const AnnotationTraceparent = "mlops.mlops.dev/traceparent"

// JobKind is the kind of the objects whose trace this is (v1alpha1.Kind, not imported: this
// package is linked by the runner too).
const JobKind = "NotebookValidationJob"

// EnvTraceparent carries the W3C traceparent into the validation pod's containers.
const EnvTraceparent = "TRACEPARENT"

// Options configure Start.
type Options struct {
	// Endpoint is the OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT); "/v1/traces" is
	// appended. Empty disables tracing.
	Endpoint string
	// ServiceName is the service.name resource attribute (K_SERVICE).
	ServiceName string
	// Exporter makes the exporter posting to the traces URL (the endpoint, "/v1/traces"
	// appended); required with an Endpoint. The functions and the runner use package
	// otlpjson's (OTLP/HTTP with JSON bodies: no protobuf linked).
	Exporter func(url string) (sdktrace.SpanExporter, error)
}

var (
	tracer  atomic.Pointer[tracerBox]
	enabled atomic.Bool
)

type tracerBox struct{ t trace.Tracer }

func init() { tracer.Store(&tracerBox{noop.NewTracerProvider().Tracer(ScopeName)}) }

// Tracer is the current tracer (no-op until Start or Install).
func Tracer() trace.Tracer { return tracer.Load().t }

// Enabled reports whether spans are recorded anywhere.
func Enabled() bool { return enabled.Load() }

// Start installs a tracer provider exporting with o.Exporter when o.Endpoint is set. shutdown
// exports what is buffered and restores the no-op tracer; call it once, with a context
// bounding the flush.
func Start(ctx context.Context, o Options) (shutdown func(context.Context) error, err error) {
	if o.Endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	endpoint, err := otlpenv.SignalURL(o.Endpoint, "traces")
	if err != nil {
		return nil, err
	}
	if o.Exporter == nil {
		return nil, errors.New("tracing: Options.Exporter is nil")
	}
	exp, err := o.Exporter(endpoint)
	if err != nil {
		return nil, fmt.Errorf("create OTLP/HTTP trace exporter for %s: %w", o.Endpoint, err)
	}
	res, err := otlpenv.Resource(o.ServiceName)
	if err != nil {
		return nil, err
	}
	tp := NewProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp))
	restore := Install(tp)
	return func(ctx context.Context) error {
		restore()
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("flush traces to %s: %w", o.Endpoint, err)
		}
		return nil
	}, nil
}

// NewProvider is an SDK tracer provider with the ID generator that lets the job's root span
// take its derived ID (tests pass a tracetest.SpanRecorder as sdktrace.WithSpanProcessor).
func NewProvider(opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithIDGenerator(idGenerator{})}, opts...)...)
}

// Install makes tp's tracer the current one; restore puts the no-op tracer back.
func Install(tp trace.TracerProvider) (restore func()) {
	tracer.Store(&tracerBox{tp.Tracer(ScopeName)})
	enabled.Store(true)
	return func() {
		enabled.Store(false)
		tracer.Store(&tracerBox{noop.NewTracerProvider().Tracer(ScopeName)})
	}
}

// JobContext is the span context every span of the job with uid descends from: trace ID the
// UID's bytes, span ID the job's root span. ok is false for a UID that is not a UUID.
func JobContext(uid string) (sc trace.SpanContext, ok bool) {
	raw, err := hex.DecodeString(strings.ReplaceAll(uid, "-", ""))
	if err != nil || len(raw) != 16 {
		return trace.SpanContext{}, false
	}
	var tid trace.TraceID
	copy(tid[:], raw)
	sum := sha256.Sum256([]byte(uid))
	var sid trace.SpanID
	copy(sid[:], sum[:8])
	if !tid.IsValid() || !sid.IsValid() {
		return trace.SpanContext{}, false
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}), true
}

// InJob returns ctx whose span is in the trace of the job with uid: ctx itself when its span
// already is, else ctx with a "step" span of that trace (child of the job's root) linking
// ctx's span. end ends that span (it does nothing for ctx itself).
func InJob(ctx context.Context, uid string, attrs ...attribute.KeyValue) (context.Context, func()) {
	if !Enabled() {
		return ctx, func() {}
	}
	jc, ok := JobContext(uid)
	cur := trace.SpanContextFromContext(ctx)
	if !ok || cur.TraceID() == jc.TraceID() {
		return ctx, func() {}
	}
	opts := []trace.SpanStartOption{trace.WithAttributes(attrs...)}
	if cur.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: cur}))
	}
	ctx, span := Tracer().Start(trace.ContextWithRemoteSpanContext(ctx, jc), SpanStep, opts...)
	return ctx, func() { span.End() }
}

// RecordJob emits the job's root span, from its creation (start) to end, when it reached its
// terminal phase. Its span ID is the one every other span of the job names as its parent. It
// links ctx's span (what ended the job) and the span of creator, a traceparent (the job's
// AnnotationTraceparent), when it is one.
func RecordJob(ctx context.Context, uid, creator string, start, end time.Time, attrs ...attribute.KeyValue) {
	if !Enabled() {
		return
	}
	jc, ok := JobContext(uid)
	if !ok {
		return
	}
	// A root: no parent, the IDs the generator is told to use, a link to what ended it.
	rootCtx := context.WithValue(trace.ContextWithSpanContext(ctx, trace.SpanContext{}), forcedIDs{}, jc)
	opts := []trace.SpanStartOption{trace.WithTimestamp(start), trace.WithAttributes(attrs...), trace.WithNewRoot()}
	for _, sc := range []trace.SpanContext{trace.SpanContextFromContext(ctx), trace.SpanContextFromContext(FromTraceparent(context.Background(), creator))} {
		if sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	_, span := Tracer().Start(rootCtx, SpanJob, opts...)
	span.End(trace.WithTimestamp(end))
}

// forcedIDs, in a context, makes the ID generator return the IDs of a job's root span.
type forcedIDs struct{}

type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if sc, ok := ctx.Value(forcedIDs{}).(trace.SpanContext); ok {
		return sc.TraceID(), sc.SpanID()
	}
	var tid trace.TraceID
	for !tid.IsValid() {
		_, _ = rand.Read(tid[:])
	}
	return tid, newSpanID()
}

func (idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return newSpanID() }

func newSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		_, _ = rand.Read(sid[:])
	}
	return sid
}

// Traceparent is the W3C traceparent of ctx's span, "" when it has none.
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c.Get("traceparent")
}

// FromTraceparent returns ctx carrying the remote span context of a W3C traceparent (the
// CloudEvents distributed tracing extension, the TRACEPARENT variable); ctx when it is not one.
func FromTraceparent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// TektonSpanContext is the value of TektonAnnotation for ctx's span, "" when tracing is off
// or ctx has no span.
func TektonSpanContext(ctx context.Context) string {
	if !Enabled() {
		return ""
	}
	tp := Traceparent(ctx)
	if tp == "" {
		return ""
	}
	b, _ := json.Marshal(map[string]string{"traceparent": tp})
	return string(b)
}

// Fail marks span failed with err (nil: nothing).
func Fail(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

// JobUIDOfObject returns the UID of the job a Kubernetes object (JSON, as an ApiServerSource
// sends it) is about: its own for a NotebookValidationJob, its controller's when that is a
// NotebookValidationJob (the validation pod, the build child). "" otherwise.
func JobUIDOfObject(data []byte) string {
	var o struct {
		Kind     string `json:"kind"`
		Metadata struct {
			UID    string `json:"uid"`
			Owners []struct {
				Kind       string `json:"kind"`
				UID        string `json:"uid"`
				Controller *bool  `json:"controller"`
			} `json:"ownerReferences"`
		} `json:"metadata"`
	}
	if json.Unmarshal(data, &o) != nil {
		return ""
	}
	if o.Kind == JobKind {
		return o.Metadata.UID
	}
	for _, r := range o.Metadata.Owners {
		if r.Controller != nil && *r.Controller && r.Kind == JobKind {
			return r.UID
		}
	}
	return ""
}
