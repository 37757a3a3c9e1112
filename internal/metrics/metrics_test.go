package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/mlops-dev/nbv/internal/otlpjson/otlpjsontest"
)

// collector is a minimal OTLP/HTTP JSON receiver (the encoding the functions export in): it
// records the metric names and attributes posted.
type collector struct {
	mu      sync.Mutex
	posts   int
	paths   []string
	service string
	points  map[string][]map[string]string // metric name -> attributes of each data point
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		http.Error(w, "Content-Type "+ct+", want application/json", http.StatusUnsupportedMediaType)
		return
	}
	req, err := otlpjsontest.DecodeMetrics(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts++
	c.paths = append(c.paths, r.URL.Path)
	for _, rm := range req.ResourceMetrics {
		for _, a := range rm.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				c.service = a.GetValue().GetStringValue()
			}
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				add := func(attrs map[string]string) { c.points[m.Name] = append(c.points[m.Name], attrs) }
				for _, dp := range m.GetSum().GetDataPoints() {
					add(attrMap(dp.Attributes))
				}
				for _, dp := range m.GetHistogram().GetDataPoints() {
					add(attrMap(dp.Attributes))
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.Key] = kv.GetValue().GetStringValue()
	}
	return m
}

func TestMetricsArriveOnShutdown(t *testing.T) {
	col := &collector{points: map[string][]map[string]string{}}
	srv := httptest.NewServer(col)
	defer srv.Close()

	ctx := context.Background()
	// A long interval proves that the export comes from the shutdown flush, not a periodic tick.
	shutdown, err := Start(ctx, Options{Endpoint: srv.URL + "/", ServiceName: "pod-completed", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	recordAll(ctx)

	col.mu.Lock()
	before := col.posts
	col.mu.Unlock()
	if before != 0 {
		t.Fatalf("%d exports before shutdown with a 1h interval", before)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		t.Fatal(err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	if col.posts == 0 {
		t.Fatal("no OTLP export arrived on shutdown")
	}
	if col.paths[0] != "/v1/metrics" {
		t.Errorf("posted to %s, want /v1/metrics", col.paths[0])
	}
	if col.service != "pod-completed" {
		t.Errorf("service.name = %q", col.service)
	}
	for _, name := range []string{NameEventsHandled, NameTransitions, NameHandlerDuration, NameBuildDuration, NameValidationDuration, NameColdStart} {
		if len(col.points[name]) == 0 {
			t.Errorf("metric %s did not arrive (got %v)", name, col.points)
		}
	}
	var sawNone bool
	for _, a := range col.points[NameTransitions] {
		if a["from"] == "None" && a["to"] == "Initializing" {
			sawNone = true
		}
	}
	if !sawNone {
		t.Errorf("transition from the empty phase not labelled None: %v", col.points[NameTransitions])
	}

	// After shutdown the instruments are no-ops again: recording must not panic or export.
	RecordEvent(ctx, "x", "done", time.Millisecond)
}

func TestStartWithoutEndpointIsNoop(t *testing.T) {
	shutdown, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	RecordTransition(context.Background(), "Building", "BuildComplete", "BuildSucceeded")
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestStartRejectsEndpointWithoutScheme(t *testing.T) {
	if _, err := Start(context.Background(), Options{Endpoint: "otel-collector:4318"}); err == nil {
		t.Fatal("want an error for an endpoint without scheme")
	}
}
