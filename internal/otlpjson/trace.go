package otlpjson

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Exporter posts spans to an OTLP/HTTP traces URL.
type Exporter struct {
	sender *sender
}

// New exports to url (the full traces URL, e.g. http://collector:4318/v1/traces), configured
// by the OTEL_EXPORTER_OTLP_[TRACES_]* variables (see sender).
func New(url string) (sdktrace.SpanExporter, error) {
	s, err := newSender(url, "traces")
	if err != nil {
		return nil, err
	}
	return &Exporter{sender: s}, nil
}

// ExportSpans posts spans as one ExportTraceServiceRequest.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	return e.sender.post(ctx, Request(spans), fmt.Sprintf("%d spans", len(spans)))
}

// Shutdown does nothing: every export is synchronous.
func (e *Exporter) Shutdown(context.Context) error { return nil }

// The OTLP JSON encoding of traces (opentelemetry-proto trace.proto).
type (
	traceRequest struct {
		ResourceSpans []resourceSpans `json:"resourceSpans"`
	}
	resourceSpans struct {
		Resource   resource     `json:"resource"`
		ScopeSpans []scopeSpans `json:"scopeSpans"`
		SchemaURL  string       `json:"schemaUrl,omitempty"`
	}
	scopeSpans struct {
		Scope     *scope `json:"scope,omitempty"`
		Spans     []span `json:"spans"`
		SchemaURL string `json:"schemaUrl,omitempty"`
	}
	span struct {
		TraceID                string     `json:"traceId"`
		SpanID                 string     `json:"spanId"`
		TraceState             string     `json:"traceState,omitempty"`
		ParentSpanID           string     `json:"parentSpanId,omitempty"`
		Flags                  uint32     `json:"flags,omitempty"`
		Name                   string     `json:"name"`
		Kind                   int        `json:"kind"`
		StartTimeUnixNano      string     `json:"startTimeUnixNano"`
		EndTimeUnixNano        string     `json:"endTimeUnixNano"`
		Attributes             []keyValue `json:"attributes,omitempty"`
		DroppedAttributesCount int        `json:"droppedAttributesCount,omitempty"`
		Events                 []event    `json:"events,omitempty"`
		DroppedEventsCount     int        `json:"droppedEventsCount,omitempty"`
		Links                  []link     `json:"links,omitempty"`
		DroppedLinksCount      int        `json:"droppedLinksCount,omitempty"`
		Status                 status     `json:"status"` // always sent, as by the SDK's exporter
	}
	event struct {
		TimeUnixNano           string     `json:"timeUnixNano"`
		Name                   string     `json:"name"`
		Attributes             []keyValue `json:"attributes,omitempty"`
		DroppedAttributesCount int        `json:"droppedAttributesCount,omitempty"`
	}
	link struct {
		TraceID                string     `json:"traceId"`
		SpanID                 string     `json:"spanId"`
		TraceState             string     `json:"traceState,omitempty"`
		Attributes             []keyValue `json:"attributes,omitempty"`
		DroppedAttributesCount int        `json:"droppedAttributesCount,omitempty"`
		Flags                  uint32     `json:"flags,omitempty"`
	}
	status struct {
		Code    int    `json:"code,omitempty"`
		Message string `json:"message,omitempty"`
	}
)

// Request is spans as an ExportTraceServiceRequest in the JSON encoding, one resourceSpans
// per resource and one scopeSpans per instrumentation scope, in the order spans come.
func Request(spans []sdktrace.ReadOnlySpan) any {
	type scopeKey struct {
		resource attribute.Distinct
		scope    instrumentation.Scope
	}
	var out traceRequest
	resources := map[attribute.Distinct]int{} // index in out.ResourceSpans
	scopes := map[scopeKey]int{}              // index in its resource's ScopeSpans
	for _, s := range spans {
		r := s.Resource()
		ri, ok := resources[r.Equivalent()]
		if !ok {
			ri = len(out.ResourceSpans)
			resources[r.Equivalent()] = ri
			out.ResourceSpans = append(out.ResourceSpans, resourceSpans{Resource: encodeResource(r), SchemaURL: r.SchemaURL()})
		}
		rs := &out.ResourceSpans[ri]
		is := s.InstrumentationScope()
		si, ok := scopes[scopeKey{r.Equivalent(), is}]
		if !ok {
			si = len(rs.ScopeSpans)
			scopes[scopeKey{r.Equivalent(), is}] = si
			ss := scopeSpans{SchemaURL: is.SchemaURL}
			if is != (instrumentation.Scope{}) { // the SDK's exporter sends no scope for the empty one
				sc := encodeScope(is)
				ss.Scope = &sc
			}
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
		}
		rs.ScopeSpans[si].Spans = append(rs.ScopeSpans[si].Spans, encodeSpan(s))
	}
	return out
}

func encodeSpan(s sdktrace.ReadOnlySpan) span {
	sc := s.SpanContext()
	out := span{
		TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String(), TraceState: sc.TraceState().String(),
		Flags: spanFlags(sc.TraceFlags(), s.Parent()),
		Name:  s.Name(), Kind: int(s.SpanKind()), // trace.SpanKind numbers the kinds as OTLP does
		StartTimeUnixNano:      unixNano(s.StartTime()),
		EndTimeUnixNano:        unixNano(s.EndTime()),
		Attributes:             attrs(s.Attributes()),
		DroppedAttributesCount: s.DroppedAttributes(),
		DroppedEventsCount:     s.DroppedEvents(),
		DroppedLinksCount:      s.DroppedLinks(),
	}
	if s.Parent().IsValid() {
		out.ParentSpanID = s.Parent().SpanID().String()
	}
	for _, e := range s.Events() {
		out.Events = append(out.Events, event{TimeUnixNano: unixNano(e.Time), Name: e.Name,
			Attributes: attrs(e.Attributes), DroppedAttributesCount: e.DroppedAttributeCount})
	}
	for _, l := range s.Links() {
		out.Links = append(out.Links, link{TraceID: l.SpanContext.TraceID().String(), SpanID: l.SpanContext.SpanID().String(),
			TraceState: l.SpanContext.TraceState().String(), Attributes: attrs(l.Attributes),
			DroppedAttributesCount: l.DroppedAttributeCount, Flags: spanFlags(l.SpanContext.TraceFlags(), l.SpanContext)})
	}
	// OTLP: 0 unset, 1 ok, 2 error; codes: Unset 0, Error 1, Ok 2.
	st := s.Status()
	out.Status.Message = st.Description
	switch st.Code {
	case codes.Error:
		out.Status.Code = 2
	case codes.Ok:
		out.Status.Code = 1
	}
	return out
}

// spanFlags are OTLP's span flags: the W3C trace flags in the low byte, then "whether the
// parent is remote is known" (0x100) and "it is remote" (0x200).
func spanFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	flags := uint32(tf) | 0x100
	if parent.IsRemote() {
		flags |= 0x200
	}
	return flags
}
