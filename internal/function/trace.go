package function

import (
	"context"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/tracing"
)

// extTraceparent is the CloudEvents distributed tracing extension Knative propagates.
const extTraceparent = "traceparent"

// eventSpan is the span of one event's handling ("process <function>", kind consumer) and
// its "decode" child. Both start when the request arrived; they are made once the event is
// decoded, because only then is it known which trace they belong to: the job's, for an event
// whose object is the job or one of its children (tracing.JobContext), else the trace the
// event carries in its traceparent extension, else a new one. The event's own traceparent is
// linked when it is not the parent (an ApiServerSource's send is not part of the job).
type eventSpan struct {
	span, decode trace.Span
}

func startEventSpan(ctx context.Context, service string, ev *cloudevents.Event, start time.Time) (context.Context, *eventSpan) {
	if !tracing.Enabled() {
		return ctx, nil
	}
	carried := trace.SpanContextFromContext(tracing.FromTraceparent(context.Background(), traceparentOf(ev)))
	parent := ctx
	var links []trace.Link
	if jc, ok := jobContextOf(ev); ok {
		parent = trace.ContextWithRemoteSpanContext(ctx, jc)
		if carried.IsValid() {
			links = append(links, trace.Link{SpanContext: carried})
		}
	} else if carried.IsValid() {
		parent = trace.ContextWithRemoteSpanContext(ctx, carried)
	}
	ctx, span := tracing.Tracer().Start(parent, "process "+service, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithTimestamp(start), trace.WithAttributes(messagingAttrs(service)...), trace.WithAttributes(eventAttrs(ev)...),
		trace.WithLinks(links...))
	_, decode := tracing.Tracer().Start(ctx, tracing.SpanDecode, trace.WithTimestamp(start))
	return ctx, &eventSpan{span: span, decode: decode}
}

// messagingAttrs are the messaging attributes of the span of a function's handling.
func messagingAttrs(service string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String(tracing.AttrMsgSystem, "knative"),
		attribute.String(tracing.AttrMsgOperation, "process"),
		attribute.String(tracing.AttrMsgOpName, "process"),
		attribute.String(tracing.AttrMsgDest, service),
	}
}

// eventAttrs are the CloudEvents attributes of ev.
func eventAttrs(ev *cloudevents.Event) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String(tracing.AttrCEID, ev.ID()),
		attribute.String(tracing.AttrCEType, ev.Type()),
		attribute.String(tracing.AttrCESource, ev.Source()),
		attribute.String(tracing.AttrCESpecVersion, ev.SpecVersion()),
		attribute.String(tracing.AttrMsgID, ev.ID()),
		attribute.Int(tracing.AttrMsgBodySize, len(ev.Data())),
	}
	if s := ev.Subject(); s != "" {
		attrs = append(attrs, attribute.String(tracing.AttrCESubject, s))
	}
	return attrs
}

// RouteSpan is the span of a request to a route (Config.Routes) that decodes its CloudEvent
// itself (the external-CI route): "process <function>", continuing the trace the sender put
// in a W3C traceparent header (or ce-traceparent, binary mode). A step it makes on a job joins
// the job's trace and links this span (tracing.InJob). Nil when tracing is off.
type RouteSpan struct{ span trace.Span }

// StartRouteSpan starts the span of r; ctx must be the one the runtime gave the route.
func StartRouteSpan(ctx context.Context, r *http.Request) (context.Context, *RouteSpan) {
	if !tracing.Enabled() {
		return ctx, nil
	}
	tp := r.Header.Get("traceparent")
	if tp == "" {
		tp = r.Header.Get("ce-traceparent")
	}
	service := DefaultServiceName
	if st := stateFrom(ctx); st != nil && st.service != "" {
		service = st.service
	}
	ctx, span := tracing.Tracer().Start(tracing.FromTraceparent(ctx, tp), "process "+service,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(messagingAttrs(service)...),
		trace.WithAttributes(attribute.String("url.path", r.URL.Path)))
	return ctx, &RouteSpan{span: span}
}

// End ends the span with the event the route decoded (nil when it decoded none) and its answer.
func (s *RouteSpan) End(ev *cloudevents.Event, status int, outcome string, err error) {
	if s == nil {
		return
	}
	if ev != nil {
		s.span.SetAttributes(eventAttrs(ev)...)
	}
	(&eventSpan{span: s.span}).end(status, outcome, err)
}

// decoded ends the decode span (once); err is why the event was refused, if it was.
func (s *eventSpan) decoded(err error) {
	if s == nil || s.decode == nil {
		return
	}
	tracing.Fail(s.decode, err)
	s.decode.End()
	s.decode = nil
}

// end ends the event's span with the answer.
func (s *eventSpan) end(status int, outcome string, err error) {
	if s == nil {
		return
	}
	s.decoded(nil)
	s.span.SetAttributes(attribute.Int(tracing.AttrStatusCode, status), attribute.String(tracing.AttrOutcome, outcome))
	if status >= 500 {
		tracing.Fail(s.span, err)
		if err == nil {
			s.span.SetStatus(codes.Error, outcome)
		}
	}
	s.span.End()
}

func traceparentOf(ev *cloudevents.Event) string {
	v, _ := ev.Extensions()[extTraceparent].(string)
	return v
}

// jobContextOf is the job's trace context when ev is an ApiServerSource event about the job
// or one of its children.
func jobContextOf(ev *cloudevents.Event) (trace.SpanContext, bool) {
	if !events.IsResourceType(ev.Type()) {
		return trace.SpanContext{}, false
	}
	uid := tracing.JobUIDOfObject(ev.Data())
	if uid == "" {
		return trace.SpanContext{}, false
	}
	return tracing.JobContext(uid)
}

// setReplyTraceparent makes the reply event carry ctx's span, so that its subscribers (and
// the broker) continue the job's trace.
func setReplyTraceparent(ctx context.Context, reply *cloudevents.Event) {
	if !tracing.Enabled() {
		return
	}
	if tp := tracing.Traceparent(ctx); tp != "" {
		reply.SetExtension(extTraceparent, tp)
	}
}
