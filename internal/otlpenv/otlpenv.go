// Package otlpenv is what the OTLP exporters of one process share: the endpoint's signal URL
// and the resource naming the process (service.name and one service.instance.id for its
// metrics and its traces alike).
package otlpenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
)

// instanceID is a random identifier of this process (hex of 16 random bytes).
var instanceID = func() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// SignalURL is endpoint (an OTLP/HTTP base URL, OTEL_EXPORTER_OTLP_ENDPOINT) with the path of
// signal ("metrics", "traces") appended, as the OTLP specification builds it.
func SignalURL(endpoint, signal string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("OTLP endpoint %q: want an http(s) base URL such as http://otel-collector:4318", endpoint)
	}
	return strings.TrimSuffix(endpoint, "/") + "/v1/" + signal, nil
}

// Resource names this process: service.name (service, default "nbv") and its
// service.instance.id. The instance tells the processes of one function apart: each reports
// cumulative counters of its own, and Prometheus' OTLP receiver makes it the instance label.
func Resource(service string) (*resource.Resource, error) {
	if service == "" {
		service = "nbv"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", service), attribute.String("service.instance.id", instanceID)))
	if err != nil {
		return nil, fmt.Errorf("build OTLP resource: %w", err)
	}
	return res, nil
}
