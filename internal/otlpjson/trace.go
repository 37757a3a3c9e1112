package otlpjson

import (
	"context"
	"fmt"
	"strconv"

	"go.opentelemetry.io/otel/codes"
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
		Scope     scope  `json:"scope"`
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
		Status                 *status    `json:"status,omitempty"`
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
		Code    int    `json:"code"`
		Message string `json:"message,omitempty"`
	}
)

// Request is spans as an ExportTraceServiceRequest in the JSON encoding, one resourceSpans
// per resource and one scopeSpans per instrumentation scope, in the order spans come.
func Request(spans []sdktrace.ReadOnlySpan) any {
	var out traceRequest
	for _, s := range spans {
		var rs *resourceSpans
		for i := range out.ResourceSpans {
			if sameResource(out.ResourceSpans[i].Resource, s.Resource()) {
				rs = &out.ResourceSpans[i]
			}
		}
		if rs == nil {
			out.ResourceSpans = append(out.ResourceSpans, resourceSpans{Resource: encodeResource(s.Resource()), SchemaURL: s.Resource().SchemaURL()})
			rs = &out.ResourceSpans[len(out.ResourceSpans)-1]
		}
		is := s.InstrumentationScope()
		var ss *scopeSpans
		for i := range rs.ScopeSpans {
			if sameScope(rs.ScopeSpans[i].Scope, is) {
				ss = &rs.ScopeSpans[i]
			}
		}
		if ss == nil {
			rs.ScopeSpans = append(rs.ScopeSpans, scopeSpans{Scope: encodeScope(is), SchemaURL: is.SchemaURL})
			ss = &rs.ScopeSpans[len(rs.ScopeSpans)-1]
		}
		ss.Spans = append(ss.Spans, encodeSpan(s))
	}
	return out
}

func encodeSpan(s sdktrace.ReadOnlySpan) span {
	sc := s.SpanContext()
	out := span{
		TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String(), TraceState: sc.TraceState().String(),
		Flags: spanFlags(sc.TraceFlags(), s.Parent()),
		Name:  s.Name(), Kind: int(s.SpanKind()), // trace.SpanKind numbers the kinds as OTLP does
		StartTimeUnixNano:      strconv.FormatInt(s.StartTime().UnixNano(), 10),
		EndTimeUnixNano:        strconv.FormatInt(s.EndTime().UnixNano(), 10),
		Attributes:             attrs(s.Attributes()),
		DroppedAttributesCount: s.DroppedAttributes(),
		DroppedEventsCount:     s.DroppedEvents(),
		DroppedLinksCount:      s.DroppedLinks(),
	}
	if s.Parent().IsValid() {
		out.ParentSpanID = s.Parent().SpanID().String()
	}
	for _, e := range s.Events() {
		out.Events = append(out.Events, event{TimeUnixNano: strconv.FormatInt(e.Time.UnixNano(), 10), Name: e.Name,
			Attributes: attrs(e.Attributes), DroppedAttributesCount: e.DroppedAttributeCount})
	}
	for _, l := range s.Links() {
		out.Links = append(out.Links, link{TraceID: l.SpanContext.TraceID().String(), SpanID: l.SpanContext.SpanID().String(),
			TraceState: l.SpanContext.TraceState().String(), Attributes: attrs(l.Attributes),
			DroppedAttributesCount: l.DroppedAttributeCount, Flags: spanFlags(l.SpanContext.TraceFlags(), l.SpanContext)})
	}
	// OTLP: 0 unset, 1 ok, 2 error; codes: Unset 0, Error 1, Ok 2.
	switch st := s.Status(); st.Code {
	case codes.Error:
		out.Status = &status{Code: 2, Message: st.Description}
	case codes.Ok:
		out.Status = &status{Code: 1}
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
