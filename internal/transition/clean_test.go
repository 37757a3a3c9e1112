package transition

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/statustext"
)

// A build that keeps reporting the same escape-laden, oversized pending message is recorded
// once: the observation is cleaned before the machine compares it with the stored (cleaned)
// message, so the raw text never looks like a change and never reaches the status.
func TestDirtyObservationIsCleanedBeforeDeciding(t *testing.T) {
	dirty := "\x1b[31mwaiting for quota\x1b[0m\x00 " + strings.Repeat("x", 10_000)
	job := initializing(true)
	job.Status.Phase = v1alpha1.PhaseBuilding
	job.Status.BuildStatus = &v1alpha1.BuildStatus{Phase: v1alpha1.BuildPhasePending, Strategy: v1alpha1.BuildStrategyTekton,
		BuildName: statemachine.BuildName(job)}
	pending := func(context.Context, *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
		return statemachine.Observation{Kind: statemachine.BuildPending, BuildName: statemachine.BuildName(job), Reason: "\x07Pending", Message: dirty}, nil
	}
	x := &Executor{Effects: &effects{}, Now: func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }}
	d, err := x.decide(context.Background(), job, pending, answered)
	if err != nil || !d.Changed {
		t.Fatalf("first pending report: changed %v, error %v; want a write", d.Changed, err)
	}
	if want := statustext.Clean(dirty, statustext.MaxMessage); d.Status.BuildStatus.Message != want {
		t.Fatalf("buildStatus.message = %q..., want the cleaned text", d.Status.BuildStatus.Message[:40])
	}
	job.Status = d.Status
	if d, err = x.decide(context.Background(), job, pending, answered); err != nil || d.Changed {
		t.Errorf("same report again: changed %v, error %v; want no write", d.Changed, err)
	}
}
