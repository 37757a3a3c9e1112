package bench

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"
)

// TestHopsKeepSamplesInCreationOrder: each hop's samples are the same measurements as its
// distribution, at their job's creation from the first one, sorted; HopChart draws them and
// refuses a result without any.
func TestHopsKeepSamplesInCreationOrder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rec := func(created time.Duration, initialized time.Duration) jobRecord {
		return jobRecord{
			plan:    Planned{Kind: NoBuild},
			created: t0.Add(created),
			phases:  []phaseSeen{{Phase: "Initializing", At: t0.Add(created + initialized)}},
		}
	}
	records := map[string]jobRecord{
		"b": rec(2*time.Second, 30*time.Millisecond),
		"a": rec(0, 10*time.Millisecond),
		"c": rec(time.Second, 20*time.Millisecond),
	}
	lat, series := hops(records)
	got := series[hopInitializing]
	want := []HopSample{{0, 10 * time.Millisecond}, {time.Second, 20 * time.Millisecond}, {2 * time.Second, 30 * time.Millisecond}}
	if len(got) != len(want) {
		t.Fatalf("samples %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d = %v, want %v", i, got[i], want[i])
		}
	}
	if lat[0].Hop != hopInitializing || lat[0].N != 3 || lat[0].Max != 30 {
		t.Errorf("distribution %+v, want 3 samples up to 30 ms", lat[0])
	}

	r := &Result{Config: Config{Jobs: 3, Pacing: "burst"}, HopSamples: series}
	var buf bytes.Buffer
	if err := r.HopChart(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Fatalf("HopChart wrote no PNG: %v", err)
	}
	if err := (&Result{}).HopChart(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no point") {
		t.Errorf("HopChart of a result without samples: %v, want an error", err)
	}
}
