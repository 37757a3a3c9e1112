package function

import (
	"context"
	"sync"
	"testing"

	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/metrics"
	"github.com/mlops-dev/nbv/internal/metrics/metricstest"
)

// TestColdStartIsRecordedOncePerProcess: the first answered event records the time since the
// process started, and no later one does; every event is counted with its type and outcome.
func TestColdStartIsRecordedOncePerProcess(t *testing.T) {
	coldStart = sync.Once{} // as in a fresh process (other tests of this package answered events)
	got := metricstest.Collect(t, metrics.Install, func(context.Context) {
		r := start(t, Config{}, testHandler)
		for _, id := range []string{"first", "second", "third"} {
			h, b := wireEvent{id: id, typ: events.TypePing, subject: "noop", data: []byte(`{}`)}.binary()
			if rep := post(t, r.url, h, b); rep.status >= 300 {
				t.Fatalf("event %s: %d %s", id, rep.status, rep.body)
			}
		}
	})
	cold := got[metrics.NameColdStart].Points
	if len(cold) != 1 || cold[0].Value != 1 || cold[0].Sum <= 0 {
		t.Errorf("cold starts recorded %+v, want one observation > 0", cold)
	}
	var handled float64
	for _, p := range got[metrics.NameEventsHandled].Points {
		if p.Attrs[metrics.AttrEventType] == events.TypePing {
			handled += p.Value
		}
	}
	if handled != 3 {
		t.Errorf("%s counted %v ping events, want 3: %+v", metrics.NameEventsHandled, handled, got[metrics.NameEventsHandled].Points)
	}

}
