package sweep

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/metrics"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// TestRecoveryCause: a recovery is a lost event only when the state its event announced is
// older than inFlight; a deadline is a deadline whatever the age.
func TestRecoveryCause(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(-d)} }
	created := func(d time.Duration) *v1alpha1.NotebookValidationJob {
		return &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: *ago(d)}}
	}
	builtAgo := func(d time.Duration) *v1alpha1.NotebookValidationJob {
		j := created(time.Hour)
		j.Status = v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseBuildComplete, StartTime: ago(time.Hour),
			BuildStatus: &v1alpha1.BuildStatus{CompletionTime: ago(d)}}
		return j
	}
	seen := statemachine.Observation{Kind: statemachine.JobSeen}
	built := func(d *metav1.Time) statemachine.Observation {
		return statemachine.Observation{Kind: statemachine.BuildSucceeded, BuildCompleted: d}
	}
	for name, tc := range map[string]struct {
		job  *v1alpha1.NotebookValidationJob
		obs  statemachine.Observation
		want string
	}{
		"deadline, however recent":             {created(time.Second), statemachine.Observation{Kind: statemachine.DeadlinePassed}, metrics.CauseDeadline},
		"job created 2s ago, unseen":           {created(2 * time.Second), seen, metrics.CauseInFlight},
		"job created 2m ago, unseen":           {created(2 * time.Minute), seen, metrics.CauseLostEvent},
		"build completed 300ms ago":            {builtAgo(300 * time.Millisecond), seen, metrics.CauseInFlight},
		"build completed 29s ago":              {builtAgo(29 * time.Second), seen, metrics.CauseInFlight},
		"build completed 31s ago":              {builtAgo(31 * time.Second), seen, metrics.CauseLostEvent},
		"build child ended 1s ago":             {created(time.Hour), built(ago(time.Second)), metrics.CauseInFlight},
		"build child ended 5m ago":             {created(time.Hour), built(ago(5 * time.Minute)), metrics.CauseLostEvent},
		"build child ended at an unknown time": {created(time.Hour), built(nil), metrics.CauseLostEvent},
		"pod ended (no time observed)":         {created(time.Second), statemachine.Observation{Kind: statemachine.PodSucceeded}, metrics.CauseLostEvent},
	} {
		if got := recoveryCause(tc.job, tc.obs, now); got != tc.want {
			t.Errorf("%s: cause %q, want %q", name, got, tc.want)
		}
	}
}
