package metrics

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/otlptranslator"

	"github.com/mlops-dev/nbv/internal/metrics/metricstest"
)

// recordAll records every instrument once, with the attributes the callers use.
func recordAll(ctx context.Context) {
	RecordEvent(ctx, "dev.knative.apiserver.resource.update", "reply", 20*time.Millisecond)
	RecordTransition(ctx, "", "Initializing", "Initialized")
	RecordTransition(ctx, "ValidationRunning", "Succeeded", "NotebookSucceeded")
	RecordPhaseDuration(ctx, "Building", 3*time.Minute)
	RecordPodDelay(ctx, SinceBuildCompleted, 1500*time.Millisecond)
	RecordBuildDuration(ctx, "tekton", "BuildComplete", 3*time.Minute)
	RecordValidationDuration(ctx, "Failed", "CloneAuthFailed", 40*time.Second)
	RecordCell(ctx, "Success", 250*time.Millisecond)
	RecordModelCheck(ctx, "timed_out")
	RecordRefusal(ctx, "NotPermitted")
	RecordDeadLetter(ctx, "dev.knative.apiserver.resource.update", "pod-completed", 500)
	RecordSweepRecovery(ctx, "ValidationRunning", CauseLostEvent)
	RecordJobsListed(ctx, "Building", 4, 1)
	RecordColdStart(ctx, 800*time.Millisecond)
}

// TestEveryInstrumentIsRecordedWithItsAttributes records each instrument through its Record
// function and checks name, kind, unit and the attributes of each data point: the contract
// the rules and the dashboard of config/monitoring query.
func TestEveryInstrumentIsRecordedWithItsAttributes(t *testing.T) {
	const (
		counter   = metricstest.Counter
		histogram = metricstest.Histogram
		gauge     = metricstest.Gauge
	)
	want := map[string]struct {
		kind  string
		unit  string
		attrs []map[string]string
	}{
		NameEventsHandled:   {counter, "{event}", []map[string]string{{AttrEventType: "dev.knative.apiserver.resource.update", AttrOutcome: "reply"}}},
		NameHandlerDuration: {histogram, "s", []map[string]string{{AttrEventType: "dev.knative.apiserver.resource.update", AttrOutcome: "reply"}}},
		NameTransitions: {counter, "{transition}", []map[string]string{
			{AttrFrom: "None", AttrTo: "Initializing", AttrReason: "Initialized"},
			{AttrFrom: "ValidationRunning", AttrTo: "Succeeded", AttrReason: "NotebookSucceeded"}}},
		NamePhaseDuration:      {histogram, "s", []map[string]string{{AttrPhase: "Building"}}},
		NamePodDelay:           {histogram, "s", []map[string]string{{AttrSince: SinceBuildCompleted}}},
		NameBuildDuration:      {histogram, "s", []map[string]string{{AttrStrategy: "tekton", AttrResult: "BuildComplete"}}},
		NameValidationDuration: {histogram, "s", []map[string]string{{AttrResult: "Failed", AttrReason: "CloneAuthFailed"}}},
		NameCellDuration:       {histogram, "s", []map[string]string{{AttrStatus: "Success"}}},
		NameModelChecks:        {counter, "{job}", []map[string]string{{AttrResult: "timed_out"}}},
		NameRefusals:           {counter, "{refusal}", []map[string]string{{AttrReason: "NotPermitted"}}},
		NameDeadLetters: {counter, "{event}", []map[string]string{
			{AttrEventType: "dev.knative.apiserver.resource.update", AttrDest: "pod-completed", AttrStatusCode: "500"}}},
		NameSweepRecoveries: {counter, "{job}", []map[string]string{{AttrPhase: "ValidationRunning", AttrCause: CauseLostEvent}}},
		NameJobsActive:      {gauge, "{job}", []map[string]string{{AttrPhase: "Building"}}},
		NameJobsOverdue:     {gauge, "{job}", []map[string]string{{AttrPhase: "Building"}}},
		NameColdStart:       {histogram, "s", []map[string]string{{}}},
	}
	got := metricstest.Collect(t, Install, recordAll)
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Fatalf("instruments recorded %v, want %v", g, w)
	}
	byKey := func(a map[string]string) string {
		return strings.Join(slices.Sorted(func(yield func(string) bool) {
			for k, v := range a {
				if !yield(k + "=" + v) {
					return
				}
			}
		}), ",")
	}
	for name, w := range want {
		g := got[name]
		if g.Kind != w.kind || g.Unit != w.unit {
			t.Errorf("%s: kind %v unit %q, want kind %v unit %q", name, g.Kind, g.Unit, w.kind, w.unit)
		}
		var gs, ws []string
		for _, p := range g.Points {
			gs = append(gs, byKey(p.Attrs))
		}
		for _, a := range w.attrs {
			ws = append(ws, byKey(a))
		}
		slices.Sort(gs)
		slices.Sort(ws)
		if !slices.Equal(gs, ws) {
			t.Errorf("%s: data points with attributes %q, want %q", name, gs, ws)
		}
	}
}

// TestPrometheusNames pins how Prometheus' OTLP receiver names our instruments (its default
// translation, UnderscoreEscapingWithSuffixes), the names the README, the rules and the
// dashboard use.
func TestPrometheusNames(t *testing.T) {
	got := prometheusNames(t)
	for name, want := range map[string]string{
		NameEventsHandled:   "nbv_events_handled_total",
		NameHandlerDuration: "nbv_handler_duration_seconds",
		NameDeadLetters:     "nbv_dead_letters_total",
		NameJobsOverdue:     "nbv_jobs_overdue",
		NameColdStart:       "nbv_function_cold_start_duration_seconds",
	} {
		if got[name] != want {
			t.Errorf("%s -> %q, want %q", name, got[name], want)
		}
	}
}

// prometheusNames maps each instrument to its Prometheus name (for a histogram, the base of
// its _bucket, _sum and _count series).
func prometheusNames(t *testing.T) map[string]string {
	t.Helper()
	namer := otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes)
	out := map[string]string{}
	kinds := map[string]otlptranslator.MetricType{
		metricstest.Counter:   otlptranslator.MetricTypeMonotonicCounter,
		metricstest.UpDown:    otlptranslator.MetricTypeNonMonotonicCounter,
		metricstest.Gauge:     otlptranslator.MetricTypeGauge,
		metricstest.Histogram: otlptranslator.MetricTypeHistogram,
	}
	for name, c := range metricstest.Collect(t, Install, recordAll) {
		p, err := namer.Build(otlptranslator.Metric{Name: name, Unit: c.Unit, Type: kinds[c.Kind]})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = p
	}
	return out
}
