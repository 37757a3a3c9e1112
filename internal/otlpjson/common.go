// Package otlpjson is a small OTLP/HTTP exporter of spans and metrics in the protocol's JSON
// encoding (Content-Type application/json, which every OTLP receiver accepts: the
// OpenTelemetry Collector, Prometheus' OTLP receiver, Jaeger v2, Tempo). The SDK's own
// exporters link protobuf and gRPC (~9 MB stripped, and ~4.5 ms of package initialisation at
// every process start here): too much for nbv-runner, copied into every validation pod, and
// for the functions, which start from zero for most events. It sends each batch once, with
// no retry: a lost export must not delay or fail the work.
package otlpjson

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
)

// The OTLP JSON encoding (opentelemetry-proto, "JSON Protobuf Encoding"): lowerCamelCase
// field names, trace and span IDs as hex, 64-bit integers as strings, enums as numbers, bytes
// as base64. A field is left out where protobuf would not send it (a scalar at its default);
// fields with presence (a oneof member, an optional field, a message) are sent even when zero,
// so that the request decodes to the same message as the SDK's protobuf exporters send.
type (
	resource struct {
		Attributes []keyValue `json:"attributes,omitempty"`
	}
	scope struct {
		Name       string     `json:"name"`
		Version    string     `json:"version,omitempty"`
		Attributes []keyValue `json:"attributes,omitempty"`
	}
	keyValue struct {
		Key   string `json:"key"`
		Value value  `json:"value"`
	}
	value struct {
		StringValue *string     `json:"stringValue,omitempty"`
		IntValue    *string     `json:"intValue,omitempty"`
		DoubleValue *double     `json:"doubleValue,omitempty"`
		BoolValue   *bool       `json:"boolValue,omitempty"`
		ArrayValue  *arrayValue `json:"arrayValue,omitempty"`
		BytesValue  *string     `json:"bytesValue,omitempty"`
	}
	arrayValue struct {
		Values []value `json:"values"`
	}
)

func encodeResource(r *sdkresource.Resource) resource {
	return resource{Attributes: attrs(r.Attributes())}
}

func encodeScope(is instrumentation.Scope) scope {
	return scope{Name: is.Name, Version: is.Version, Attributes: attrs(is.Attributes.ToSlice())}
}

func attrs(kvs []attribute.KeyValue) []keyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]keyValue, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, keyValue{Key: string(kv.Key), Value: encodeValue(kv.Value)})
	}
	return out
}

func encodeValue(v attribute.Value) value {
	var out value
	switch v.Type() {
	case attribute.INT64:
		s := strconv.FormatInt(v.AsInt64(), 10)
		out.IntValue = &s
	case attribute.FLOAT64:
		f := double(v.AsFloat64())
		out.DoubleValue = &f
	case attribute.BOOL:
		b := v.AsBool()
		out.BoolValue = &b
	case attribute.STRING:
		s := v.AsString()
		out.StringValue = &s
	case attribute.BOOLSLICE:
		out.ArrayValue = arrayOf(v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		out.ArrayValue = arrayOf(v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		out.ArrayValue = arrayOf(v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		out.ArrayValue = arrayOf(v.AsStringSlice(), attribute.StringValue)
	case attribute.BYTESLICE:
		s := base64.StdEncoding.EncodeToString(v.AsByteSlice())
		out.BytesValue = &s
	case attribute.SLICE:
		out.ArrayValue = arrayOf(v.AsSlice(), func(e attribute.Value) attribute.Value { return e })
	case attribute.EMPTY:
		// An AnyValue with no value set, {}: OTLP's empty value.
	default:
		s := v.Emit()
		out.StringValue = &s
	}
	return out
}

// arrayOf is xs as an OTLP array value (an empty one is [], not absent), each element
// encoded as the attribute value that as makes of it.
func arrayOf[T any](xs []T, as func(T) attribute.Value) *arrayValue {
	out := &arrayValue{Values: make([]value, 0, len(xs))}
	for _, x := range xs {
		out.Values = append(out.Values, encodeValue(as(x)))
	}
	return out
}

// double is a float64 in the protobuf JSON mapping: a JSON number, or "NaN", "Infinity" or
// "-Infinity", which encoding/json refuses to encode (it would fail the whole export).
type double float64

func (d double) MarshalJSON() ([]byte, error) {
	f := float64(d)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	// 'g' with the shortest precision round-trips and is a valid JSON number (1e+21, 5e-324).
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// unixNano is t as OTLP's fixed64 nanoseconds since the epoch, a decimal string. Like the
// SDK's exporters it clamps times before 1970 (and the zero time.Time) to 0, which a uint64
// field can hold.
func unixNano(t time.Time) string {
	return strconv.FormatInt(max(0, t.UnixNano()), 10)
}
