// Package otlpjsontest decodes an OTLP/HTTP JSON trace or metric export into the protocol's
// own generated types, so that tests check the encoding against opentelemetry-proto itself.
package otlpjsontest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Decode parses body, an ExportTraceServiceRequest in the OTLP JSON encoding. That encoding
// is protobuf's JSON mapping except that trace and span IDs are hex, not base64: they are
// converted, then protojson decodes the rest, refusing unknown fields.
func Decode(body []byte) (*coltracepb.ExportTraceServiceRequest, error) {
	var req coltracepb.ExportTraceServiceRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

// DecodeMetrics parses body, an ExportMetricsServiceRequest in the OTLP JSON encoding, as
// Decode does (exemplars' trace and span IDs are hex too).
func DecodeMetrics(body []byte) (*colmetricpb.ExportMetricsServiceRequest, error) {
	var req colmetricpb.ExportMetricsServiceRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

func decode(body []byte, msg proto.Message) error {
	var doc any
	// UseNumber: a float64 round trip would change 64-bit integers sent as numbers, and the
	// JSON must reach protojson as it came.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	if err := hexIDsToBase64(doc); err != nil {
		return err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(b, msg)
}

func hexIDsToBase64(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && (k == "traceId" || k == "spanId" || k == "parentSpanId") {
				raw, err := hex.DecodeString(s)
				if err != nil {
					return fmt.Errorf("%s %q is not hex: %w", k, s, err)
				}
				v[k] = base64.StdEncoding.EncodeToString(raw)
				continue
			}
			if err := hexIDsToBase64(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := hexIDsToBase64(x); err != nil {
				return err
			}
		}
	}
	return nil
}
