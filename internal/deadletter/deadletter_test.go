package deadletter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/local/yamldocs"
	"github.com/mlops-dev/nbv/internal/metrics"
	"github.com/mlops-dev/nbv/internal/metrics/metricstest"
)

// post sends a binary-mode CloudEvent with Knative's dead-letter extensions to the Route.
func post(t *testing.T, eventType, dest, code string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(`{}`))
	for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": "e1", "ce-source": "/apis/v1/namespaces/ns/pods/p",
		"ce-type": eventType, "Content-Type": "application/json", "ce-" + ExtDest: dest, "ce-" + ExtCode: code, "ce-" + ExtData: "internal error"} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	Route{}.ServeHTTP(rec, req)
	return rec.Code
}

func TestDeadLettersAreCountedWithBoundedAttributes(t *testing.T) {
	var codes []int
	got := metricstest.Collect(t, metrics.Install, func(context.Context) {
		codes = append(codes,
			post(t, "dev.knative.apiserver.resource.update", "http://pod-completed.nbv-system.svc.cluster.local", "500"),
			post(t, "dev.knative.apiserver.resource.update", "http://pod-completed.nbv-system.svc.cluster.local/", "500"),
			// A type nobody accepts and a destination that is not a function: "other", no status.
			post(t, "com.example.anything", "http://attacker.example/x", "not a number"),
		)
	})
	for _, c := range codes {
		if c != http.StatusAccepted {
			t.Errorf("answered %d, want 202", c)
		}
	}
	points := got[metrics.NameDeadLetters].Points
	want := map[string]float64{
		"dev.knative.apiserver.resource.update|pod-completed|500": 2,
		"other|other|0": 1,
	}
	if len(points) != len(want) {
		t.Fatalf("points %+v, want %v", points, want)
	}
	for _, p := range points {
		key := p.Attrs[metrics.AttrEventType] + "|" + p.Attrs[metrics.AttrDest] + "|" + p.Attrs[metrics.AttrStatusCode]
		if want[key] != p.Value {
			t.Errorf("point %s = %v, want %v", key, p.Value, want[key])
		}
	}
}

func TestNotACloudEventIsRefused(t *testing.T) {
	rec := httptest.NewRecorder()
	Route{}.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, strings.NewReader("hello")))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("answered %d, want 400", rec.Code)
	}
}

// TestFunctionsAreTheServicesInstalled keeps Functions, the destinations recorded, equal to
// the Knative Services of config/functions.
func TestFunctionsAreTheServicesInstalled(t *testing.T) {
	docs, err := yamldocs.ReadFile("../../config/functions/services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, d := range docs {
		if d.Object.GetKind() == "Service" {
			services = append(services, d.Object.GetName())
		}
	}
	slices.Sort(services)
	if want := slices.Sorted(slices.Values(Functions)); !slices.Equal(services, want) {
		t.Errorf("config/functions/services.yaml has Services %v; Functions is %v", services, want)
	}
}
