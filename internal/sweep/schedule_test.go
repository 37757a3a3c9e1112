package sweep

import (
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

var t0 = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// listed is a job as the list returns it: phase, and a start time ago before t0.
func listed(name, phase string, ago time.Duration, edit func(*v1alpha1.NotebookValidationJob)) v1alpha1.NotebookValidationJob {
	start := metav1.NewTime(t0.Add(-ago))
	j := v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
		Spec:       v1alpha1.NotebookValidationJobSpec{Timeout: "10m"},
		Status:     v1alpha1.NotebookValidationJobStatus{Phase: phase, StartTime: &start},
	}
	if phase == v1alpha1.PhaseValidationRunning {
		j.Status.ValidationPodName = name + "-validation"
	}
	if edit != nil {
		edit(&j)
	}
	return j
}

func building(strategy string) func(*v1alpha1.NotebookValidationJob) {
	return func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: strategy, Timeout: "5m"}
		j.Status.BuildStatus = &v1alpha1.BuildStatus{Strategy: strategy, StartTime: j.Status.StartTime}
	}
}

func names(jobs []*v1alpha1.NotebookValidationJob) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}

func TestScheduleChoosesWhatTheSweepCanAdvance(t *testing.T) {
	jobs := []v1alpha1.NotebookValidationJob{
		listed("running", v1alpha1.PhaseValidationRunning, time.Minute, nil),
		listed("running-no-pod", v1alpha1.PhaseValidationRunning, time.Minute, func(j *v1alpha1.NotebookValidationJob) { j.Status.ValidationPodName = "" }),
		listed("unseen", v1alpha1.PhaseNone, 0, func(j *v1alpha1.NotebookValidationJob) { j.Status.StartTime = nil }),
		listed("initializing", v1alpha1.PhaseInitializing, time.Minute, nil),
		listed("built", v1alpha1.PhaseBuildComplete, time.Minute, nil),
		listed("legacy-pending", v1alpha1.PhasePending, time.Minute, nil),
		listed("legacy-running", v1alpha1.PhaseRunning, time.Minute, nil),
		listed("external-waiting", v1alpha1.PhaseBuilding, time.Minute, building(v1alpha1.BuildStrategyExternal)),
		listed("tekton-building", v1alpha1.PhaseBuilding, time.Minute, building(v1alpha1.BuildStrategyTekton)),
		listed("unknown-phase", "Paused", time.Hour, nil),
		// Past the deadline: external 5m with no grace; validation 10m + 2m grace.
		listed("external-overdue", v1alpha1.PhaseBuilding, 6*time.Minute, building(v1alpha1.BuildStrategyExternal)),
		listed("running-overdue", v1alpha1.PhaseValidationRunning, 13*time.Minute, nil),
	}
	got := names(schedule(jobs, t0, 100, false))
	want := []string{"external-overdue", "running-overdue",
		"running", "unseen", "initializing", "built", "legacy-pending", "legacy-running"}
	if !slices.Equal(got, want) {
		t.Errorf("without build observation:\n got %v\nwant %v", got, want)
	}
	got = names(schedule(jobs, t0, 100, true))
	want = []string{"external-overdue", "running-overdue",
		"running", "unseen", "initializing", "built", "legacy-pending", "legacy-running", "tekton-building"}
	if !slices.Equal(got, want) {
		t.Errorf("with build observation:\n got %v\nwant %v", got, want)
	}
}

func TestScheduleBoundAndOverdueFirst(t *testing.T) {
	var jobs []v1alpha1.NotebookValidationJob
	for i := range 5 {
		jobs = append(jobs, listed(fmt.Sprintf("fresh-%d", i), v1alpha1.PhaseNone, 0, nil))
	}
	jobs = append(jobs, listed("late", v1alpha1.PhaseInitializing, time.Hour, nil))
	got := names(schedule(jobs, t0, 3, false))
	if len(got) != 3 || got[0] != "late" {
		t.Errorf("schedule = %v, want 3 jobs starting with the overdue one", got)
	}
	if got := schedule(jobs, t0, 0, false); len(got) != 0 {
		t.Errorf("a zero bound scheduled %v", names(got))
	}
}

// TestScheduleRotationCoversEveryJob: with more qualifying jobs than the bound, consecutive
// minutes examine consecutive windows, so no job waits longer than ceil(n/bound) pings.
func TestScheduleRotationCoversEveryJob(t *testing.T) {
	const n, bound = 7, 3
	var jobs []v1alpha1.NotebookValidationJob
	for i := range n {
		jobs = append(jobs, listed(fmt.Sprintf("j%d", i), v1alpha1.PhaseNone, 0, nil))
	}
	for start := range 5 { // whatever minute the sweep happens to start at
		seen := map[string]int{}
		for m := range (n + bound - 1) / bound {
			now := t0.Add(time.Duration(start+m) * time.Minute)
			got := schedule(jobs, now, bound, false)
			if len(got) != bound {
				t.Fatalf("minute %d: scheduled %d, want the bound %d", m, len(got), bound)
			}
			for _, j := range got {
				seen[j.Name]++
			}
		}
		if len(seen) != n {
			t.Errorf("start %d: %d pings examined %v, want all %d jobs", start, (n+bound-1)/bound, seen, n)
		}
	}
	// Within one minute the choice is stable: a redelivered ping examines the same window.
	a, b := names(schedule(jobs, t0.Add(10*time.Second), bound, false)), names(schedule(jobs, t0.Add(50*time.Second), bound, false))
	if !slices.Equal(a, b) {
		t.Errorf("same minute, different windows: %v vs %v", a, b)
	}
}

func TestChildBuildUsesTheRecordedStrategy(t *testing.T) {
	j := listed("b", v1alpha1.PhaseBuilding, 0, building(v1alpha1.BuildStrategyTekton))
	j.Spec.PodConfig.BuildConfig.Strategy = v1alpha1.BuildStrategyExternal // edited after the build started
	if !childBuild(&j) {
		t.Error("the strategy recorded when the build started must win over a later spec edit")
	}
	j.Status.BuildStatus = nil
	if childBuild(&j) {
		t.Error("without a recorded strategy the spec's external strategy applies")
	}
}
