package statemachine

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

func TestDeadline(t *testing.T) {
	start := sampleStart.Time
	cases := []struct {
		name string
		job  func() *v1alpha1.NotebookValidationJob
		want time.Duration // after sampleStart; ignored when none
		none bool
	}{
		{name: "new job", job: func() *v1alpha1.NotebookValidationJob { return sampleJob(v1alpha1.PhaseNone, "") }, none: true},
		{name: "initializing", job: func() *v1alpha1.NotebookValidationJob { return sampleJob(v1alpha1.PhaseInitializing, "") },
			want: 32 * time.Minute},
		{name: "initializing without start time", none: true, job: func() *v1alpha1.NotebookValidationJob {
			job := sampleJob(v1alpha1.PhaseInitializing, "")
			job.Status.StartTime = nil
			return job
		}},
		{name: "legacy pending with spec timeout 1h", want: time.Hour + 2*time.Minute, job: func() *v1alpha1.NotebookValidationJob {
			job := sampleJob(v1alpha1.PhasePending, "")
			job.Spec.Timeout = "1h"
			return job
		}},
		{name: "tekton build: build system enforces first", want: 17 * time.Minute,
			job: func() *v1alpha1.NotebookValidationJob { return buildingJob(v1alpha1.BuildStrategyTekton) }},
		{name: "external build: no grace", want: 15 * time.Minute,
			job: func() *v1alpha1.NotebookValidationJob { return buildingJob(v1alpha1.BuildStrategyExternal) }},
		{name: "build counts from the build's start, default timeout", want: 5*time.Minute + 15*time.Minute, job: func() *v1alpha1.NotebookValidationJob {
			job := buildingJob(v1alpha1.BuildStrategyExternal)
			job.Spec.PodConfig.BuildConfig.Timeout = ""
			job.Status.BuildStatus.StartTime = ptr(at(5 * time.Minute))
			return job
		}},
		{name: "unparsable build timeout falls back to the default", want: 15 * time.Minute, job: func() *v1alpha1.NotebookValidationJob {
			job := buildingJob(v1alpha1.BuildStrategyExternal)
			job.Spec.PodConfig.BuildConfig.Timeout = "soon"
			return job
		}},
		{name: "build complete counts from the build's completion", want: 20*time.Minute + 32*time.Minute, job: func() *v1alpha1.NotebookValidationJob {
			job := buildCompleteJob()
			job.Status.BuildStatus.CompletionTime = ptr(at(20 * time.Minute))
			return job
		}},
		{name: "validation counts from entering ValidationRunning", want: 3*time.Minute + 32*time.Minute, job: func() *v1alpha1.NotebookValidationJob {
			job := validatingJob(v1alpha1.PhaseValidationRunning)
			job.Status.Conditions[0].LastTransitionTime = at(3 * time.Minute)
			return job
		}},
		{name: "validation counts from the last retry", want: 9*time.Minute + 32*time.Minute, job: func() *v1alpha1.NotebookValidationJob {
			job := validatingJob(v1alpha1.PhaseValidationRunning)
			job.Status.LastRetryTime = ptr(at(9 * time.Minute))
			return job
		}},
		{name: "migrated validation counts from the start", want: 32 * time.Minute, job: func() *v1alpha1.NotebookValidationJob {
			job := validatingJob(v1alpha1.PhaseValidationRunning)
			job.Status.Conditions = nil
			return job
		}},
		{name: "legacy running", want: 32 * time.Minute,
			job: func() *v1alpha1.NotebookValidationJob { return validatingJob(v1alpha1.PhaseRunning) }},
		{name: "succeeded", none: true, job: func() *v1alpha1.NotebookValidationJob { return samples(v1alpha1.PhaseSucceeded)[0].job }},
		{name: "failed", none: true, job: func() *v1alpha1.NotebookValidationJob { return samples(v1alpha1.PhaseFailed)[0].job }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Deadline(c.job())
			if ok == c.none {
				t.Fatalf("Deadline reported %v (ok %v); want a deadline: %v", got, ok, !c.none)
			}
			if !c.none && !got.Equal(start.Add(c.want)) {
				t.Errorf("Deadline = start + %v; want start + %v", got.Sub(start), c.want)
			}
		})
	}
	if _, ok := Deadline(nil); ok {
		t.Errorf("a nil job has no deadline")
	}
}

// TestDeadlineSurvivesTheTransitionIntoValidation checks the deadline Decide leaves behind:
// a job that just started validating gets the full timeout from that moment.
func TestDeadlineSurvivesTheTransitionIntoValidation(t *testing.T) {
	job := buildCompleteJob()
	entered := metav1.NewTime(sampleStart.Add(40 * time.Minute))
	apply(job, Observation{Kind: JobSeen, Now: entered})
	got, ok := Deadline(job)
	if want := entered.Add(DefaultTimeout + DeadlineGrace); !ok || !got.Equal(want) {
		t.Errorf("Deadline = %v, %v; want %v", got, ok, want)
	}
	apply(job, Observation{Kind: PodInfraFailed, Now: metav1.NewTime(entered.Add(5 * time.Minute)), PodName: job.Status.ValidationPodName})
	got, _ = Deadline(job)
	if want := entered.Add(5*time.Minute + DefaultTimeout + DeadlineGrace); !got.Equal(want) {
		t.Errorf("after a retry Deadline = %v; want %v", got, want)
	}
}
