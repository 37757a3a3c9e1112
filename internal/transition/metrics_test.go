package transition

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/metrics"
	"github.com/mlops-dev/nbv/internal/metrics/metricstest"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// TestRecordMeasuresTheJobsPath checks what one written transition records: the phase left
// and how long the job was in it, the delay from the build to the pod, the validation with
// the runner's reason and every cell, a refusal, and that an outside reason stays bounded.
func TestRecordMeasuresTheJobsPath(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	now := created.Add(10 * time.Minute)
	x := &Executor{Now: func() time.Time { return now }}
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(created.Add(d)); return &t }
	job := &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}

	toPod := Outcome{Job: job, PreviousPhase: v1alpha1.PhaseBuildComplete, PhaseSince: created.Add(9 * time.Minute),
		Decision: statemachine.Decision{Reason: statemachine.ReasonValidationStarted, Effect: statemachine.EffectCreateValidationPod,
			Status: v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseValidationRunning,
				BuildStatus: &v1alpha1.BuildStatus{Strategy: "tekton", StartTime: at(time.Minute), CompletionTime: at(9*time.Minute + 58*time.Second)}}}}
	ended := Outcome{Job: job, PreviousPhase: v1alpha1.PhaseValidationRunning, PhaseSince: created.Add(8 * time.Minute), ObservedReason: "CellFailed",
		Decision: statemachine.Decision{Reason: statemachine.ReasonNotebookFailed,
			Status: v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseFailed, StartTime: at(0), CompletionTime: at(9 * time.Minute),
				Results: []v1alpha1.CellResult{
					{CellIndex: 0, Status: "Success", ExecutionTime: &metav1.Duration{Duration: time.Second}},
					{CellIndex: 1, Status: "Failure", ExecutionTime: &metav1.Duration{Duration: 3 * time.Second}},
					{CellIndex: 2, Status: "Skipped"}}}}}
	refused := Outcome{Job: job, PreviousPhase: v1alpha1.PhaseInitializing,
		Decision: statemachine.Decision{Reason: statemachine.ReasonNotPermitted, Status: v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseFailed}}}
	models := Outcome{Job: job, PreviousPhase: v1alpha1.PhaseInitializing, PhaseSince: created,
		Decision: statemachine.Decision{Reason: "a reason from outside: not a constant", Effect: statemachine.EffectCreateValidationPod,
			Status: v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseValidationRunning}}}
	meta.SetStatusCondition(&models.Decision.Status.Conditions, metav1.Condition{Type: statemachine.ConditionModelsReady,
		Status: metav1.ConditionFalse, Reason: statemachine.ReasonModelsTimedOut})
	same := Outcome{Job: job, PreviousPhase: v1alpha1.PhaseBuilding, PhaseSince: created,
		Decision: statemachine.Decision{Reason: statemachine.ReasonBuildRunning, Status: v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseBuilding}}}

	got := metricstest.Collect(t, metrics.Install, func(ctx context.Context) {
		for _, o := range []Outcome{toPod, ended, refused, models, same} {
			x.record(ctx, o)
		}
	})
	type point struct {
		attr, value string
		count, sum  float64
	}
	for _, tc := range []struct {
		name string
		want []point
	}{
		{metrics.NameTransitions, []point{{metrics.AttrReason, "ValidationStarted", 1, 0}, {metrics.AttrReason, "NotebookFailed", 1, 0},
			{metrics.AttrReason, "NotPermitted", 1, 0}, {metrics.AttrReason, "Other", 1, 0}, {metrics.AttrReason, "BuildRunning", 1, 0}}},
		// A status write that stays in Building leaves no phase.
		{metrics.NamePhaseDuration, []point{{metrics.AttrPhase, "BuildComplete", 1, 60}, {metrics.AttrPhase, "ValidationRunning", 1, 120},
			{metrics.AttrPhase, "Initializing", 1, 600}}},
		{metrics.NamePodDelay, []point{{metrics.AttrSince, metrics.SinceBuildCompleted, 1, 2}, {metrics.AttrSince, metrics.SinceJobCreated, 1, 600}}},
		{metrics.NameValidationDuration, []point{{metrics.AttrReason, "CellFailed", 1, 540}}},
		{metrics.NameCellDuration, []point{{metrics.AttrStatus, "Success", 1, 1}, {metrics.AttrStatus, "Failure", 1, 3}}},
		{metrics.NameRefusals, []point{{metrics.AttrReason, "NotPermitted", 1, 0}}},
		{metrics.NameModelChecks, []point{{metrics.AttrResult, "timed_out", 1, 0}}},
	} {
		in := got[tc.name]
		if len(in.Points) != len(tc.want) {
			t.Errorf("%s: %d data points %+v, want %d", tc.name, len(in.Points), in.Points, len(tc.want))
			continue
		}
		for _, w := range tc.want {
			found := false
			for _, p := range in.Points {
				if p.Attrs[w.attr] == w.value && p.Value == w.count && p.Sum == w.sum {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no point %s=%s count %v sum %v in %+v", tc.name, w.attr, w.value, w.count, w.sum, in.Points)
			}
		}
	}
}
