// Package otlpjson is a small OTLP/HTTP span exporter in the protocol's JSON encoding
// (Content-Type application/json, which every OTLP receiver accepts: the OpenTelemetry
// Collector, Jaeger v2, Tempo). It exists for nbv-runner, which is copied into every
// validation pod: the SDK's own exporter links protobuf and gRPC (~5 MB stripped) for a
// handful of spans per run. It sends each batch once, with no retry: the runner exits after
// its run, and a lost trace must not delay or fail the validation.
package otlpjson

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Exporter posts spans to an OTLP/HTTP traces URL.
type Exporter struct {
	url     string
	headers map[string]string
	client  *http.Client
}

// New exports to url (the full traces URL, e.g. http://collector:4318/v1/traces) with the
// headers of OTEL_EXPORTER_OTLP_HEADERS (comma-separated key=value, values URL-encoded).
func New(url string) (sdktrace.SpanExporter, error) {
	headers, err := parseHeaders(os.Getenv("OTEL_EXPORTER_OTLP_HEADERS"))
	if err != nil {
		return nil, err
	}
	return &Exporter{url: url, headers: headers, client: &http.Client{}}, nil
}

func parseHeaders(v string) (map[string]string, error) {
	h := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_HEADERS: %q is not key=value", kv)
		}
		dec, err := url.QueryUnescape(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_HEADERS: value of %s: %w", strings.TrimSpace(k), err)
		}
		h[strings.TrimSpace(k)] = dec
	}
	return h, nil
}

// ExportSpans posts spans as one ExportTraceServiceRequest.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	body, err := json.Marshal(Request(spans))
	if err != nil {
		return fmt.Errorf("encode spans: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range e.headers {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("export %d spans to %s: %w", len(spans), e.url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("export %d spans to %s: %s: %s", len(spans), e.url, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Shutdown does nothing: every export is synchronous.
func (e *Exporter) Shutdown(context.Context) error { return nil }

// The OTLP JSON encoding (opentelemetry-proto, "JSON Protobuf Encoding"): lowerCamelCase
// field names, trace and span IDs as hex, 64-bit integers as strings, enums as numbers.
type (
	request struct {
		ResourceSpans []resourceSpans `json:"resourceSpans"`
	}
	resourceSpans struct {
		Resource   resource     `json:"resource"`
		ScopeSpans []scopeSpans `json:"scopeSpans"`
	}
	resource struct {
		Attributes []keyValue `json:"attributes,omitempty"`
	}
	scopeSpans struct {
		Scope scope  `json:"scope"`
		Spans []span `json:"spans"`
	}
	scope struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
	}
	span struct {
		TraceID           string     `json:"traceId"`
		SpanID            string     `json:"spanId"`
		ParentSpanID      string     `json:"parentSpanId,omitempty"`
		Name              string     `json:"name"`
		Kind              int        `json:"kind"`
		StartTimeUnixNano string     `json:"startTimeUnixNano"`
		EndTimeUnixNano   string     `json:"endTimeUnixNano"`
		Attributes        []keyValue `json:"attributes,omitempty"`
		Links             []link     `json:"links,omitempty"`
		Status            *status    `json:"status,omitempty"`
	}
	link struct {
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
	}
	status struct {
		Code    int    `json:"code"`
		Message string `json:"message,omitempty"`
	}
	keyValue struct {
		Key   string `json:"key"`
		Value value  `json:"value"`
	}
	value struct {
		StringValue *string  `json:"stringValue,omitempty"`
		IntValue    *string  `json:"intValue,omitempty"`
		DoubleValue *float64 `json:"doubleValue,omitempty"`
		BoolValue   *bool    `json:"boolValue,omitempty"`
	}
)

// Request is spans as an ExportTraceServiceRequest in the JSON encoding, one resourceSpans
// per resource and one scopeSpans per instrumentation scope, in the order spans come.
func Request(spans []sdktrace.ReadOnlySpan) any {
	var out request
	for _, s := range spans {
		var rs *resourceSpans
		for i := range out.ResourceSpans {
			if sameAttrs(out.ResourceSpans[i].Resource.Attributes, s.Resource().Attributes()) {
				rs = &out.ResourceSpans[i]
			}
		}
		if rs == nil {
			out.ResourceSpans = append(out.ResourceSpans, resourceSpans{Resource: resource{Attributes: attrs(s.Resource().Attributes())}})
			rs = &out.ResourceSpans[len(out.ResourceSpans)-1]
		}
		sc := scope{Name: s.InstrumentationScope().Name, Version: s.InstrumentationScope().Version}
		var ss *scopeSpans
		for i := range rs.ScopeSpans {
			if rs.ScopeSpans[i].Scope == sc {
				ss = &rs.ScopeSpans[i]
			}
		}
		if ss == nil {
			rs.ScopeSpans = append(rs.ScopeSpans, scopeSpans{Scope: sc})
			ss = &rs.ScopeSpans[len(rs.ScopeSpans)-1]
		}
		ss.Spans = append(ss.Spans, encode(s))
	}
	return out
}

func encode(s sdktrace.ReadOnlySpan) span {
	out := span{
		TraceID: s.SpanContext().TraceID().String(), SpanID: s.SpanContext().SpanID().String(),
		Name: s.Name(), Kind: int(s.SpanKind()), // trace.SpanKind numbers the kinds as OTLP does
		StartTimeUnixNano: strconv.FormatInt(s.StartTime().UnixNano(), 10),
		EndTimeUnixNano:   strconv.FormatInt(s.EndTime().UnixNano(), 10),
		Attributes:        attrs(s.Attributes()),
	}
	if s.Parent().IsValid() {
		out.ParentSpanID = s.Parent().SpanID().String()
	}
	for _, l := range s.Links() {
		out.Links = append(out.Links, link{TraceID: l.SpanContext.TraceID().String(), SpanID: l.SpanContext.SpanID().String()})
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

func attrs(kvs []attribute.KeyValue) []keyValue {
	out := make([]keyValue, 0, len(kvs))
	for _, kv := range kvs {
		var v value
		switch kv.Value.Type() {
		case attribute.INT64:
			s := strconv.FormatInt(kv.Value.AsInt64(), 10)
			v.IntValue = &s
		case attribute.FLOAT64:
			f := kv.Value.AsFloat64()
			v.DoubleValue = &f
		case attribute.BOOL:
			b := kv.Value.AsBool()
			v.BoolValue = &b
		default:
			s := kv.Value.Emit()
			v.StringValue = &s
		}
		out = append(out, keyValue{Key: string(kv.Key), Value: v})
	}
	return out
}

func sameAttrs(encoded []keyValue, kvs []attribute.KeyValue) bool {
	again := attrs(kvs)
	if len(again) != len(encoded) {
		return false
	}
	a, _ := json.Marshal(again)
	b, _ := json.Marshal(encoded)
	return bytes.Equal(a, b)
}
