package observe

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

func TestBuildObservations(t *testing.T) {
	started := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	done := metav1.NewTime(started.Add(90 * time.Second))
	cases := []struct {
		in         build.Observed
		kind       statemachine.Kind
		image, msg string
	}{
		{build.Observed{State: build.StatePending, Reason: "PipelineRunPending", Message: "quota"}, statemachine.BuildPending, "", "quota"},
		{build.Observed{State: build.StateRunning, Reason: "Running", Message: "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0"}, statemachine.BuildRunning, "", ""},
		{build.Observed{State: build.StateSucceeded, Image: "r/x:1@sha256:ab", Reason: "Succeeded"}, statemachine.BuildSucceeded, "r/x:1@sha256:ab", ""},
		{build.Observed{State: build.StateFailed, Reason: "Failed", Message: "step build-and-push exited 1"}, statemachine.BuildFailed, "", "step build-and-push exited 1"},
		{build.Observed{State: build.StateCancelled, Reason: "Cancelled", Message: "by user"}, statemachine.BuildCancelled, "", "by user"},
		{build.Observed{State: build.StateTimedOut, Reason: "PipelineRunTimeout", Message: "failed to finish within 15m"}, statemachine.BuildTimedOut, "", "failed to finish within 15m"},
		{build.Observed{}, statemachine.BuildPending, "", ""},
	}
	for _, c := range cases {
		c.in.Name, c.in.Started, c.in.Completed = "nb-build", &started, &done
		got := Build(c.in)
		if got.Kind != c.kind || got.Image != c.image || got.Message != c.msg || got.Reason != c.in.Reason ||
			got.BuildName != "nb-build" || got.BuildStarted != &started || got.BuildCompleted != &done {
			t.Errorf("Build(%+v) = %+v, want kind %s image %q message %q", c.in, got, c.kind, c.image, c.msg)
		}
	}
}

// A running build updated several times (Tekton rewrites its message per task) writes the
// job once: the first observation changes buildStatus, the later ones decide Changed=false.
// A running build's own messages (Tekton rewrites them as tasks finish) never cost a write:
// a job that shows its build started is not written at all, and one that shows it held is
// written once, to say it runs.
func TestRunningBuildWritesAtMostOnce(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	for _, c := range []struct {
		name   string
		reason string // of the BuildReady condition the job shows
		writes int
		phase  string
	}{
		{"started", statemachine.ReasonBuildStarted, 0, v1alpha1.BuildPhasePending},
		{"held", statemachine.ReasonBuildPending, 1, v1alpha1.BuildPhaseRunning},
	} {
		job := &v1alpha1.NotebookValidationJob{
			ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "ns"},
			Spec: v1alpha1.NotebookValidationJobSpec{PodConfig: v1alpha1.PodConfigSpec{
				BuildConfig: &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: v1alpha1.BuildStrategyTekton}}},
			Status: v1alpha1.NotebookValidationJobStatus{Phase: v1alpha1.PhaseBuilding,
				BuildStatus: &v1alpha1.BuildStatus{Phase: v1alpha1.BuildPhasePending, Strategy: v1alpha1.BuildStrategyTekton, BuildName: "nb-build"},
				Conditions:  []metav1.Condition{{Type: v1alpha1.ConditionBuildReady, Status: metav1.ConditionUnknown, Reason: c.reason, LastTransitionTime: now}}},
		}
		writes := 0
		for _, msg := range []string{"Tasks Completed: 0 (Failed: 0, Cancelled 0), Skipped: 0", "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0", ""} {
			obs := Build(build.Observed{State: build.StateRunning, Name: "nb-build", Reason: "Running", Message: msg})
			obs.Now = now
			d := statemachine.Decide(job, obs)
			if d.Changed {
				writes++
				job.Status = d.Status
			}
		}
		if writes != c.writes || job.Status.BuildStatus.Phase != c.phase {
			t.Errorf("%s: writes = %d, buildStatus %+v; want %d, build %s", c.name, writes, job.Status.BuildStatus, c.writes, c.phase)
		}
	}
}

func TestBuildMissing(t *testing.T) {
	got := BuildMissing("PipelineRun", "nb-build")
	if got.Kind != statemachine.BuildFailed || got.Reason != ReasonBuildDeleted || got.BuildName != "nb-build" || got.Message == "" {
		t.Errorf("BuildMissing = %+v", got)
	}
}
