package statemachine

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/reuse"
)

// requestingJob is a job in Initializing that asks for reuse and pins every input.
func requestingJob() *v1alpha1.NotebookValidationJob {
	job := reuseJob(v1alpha1.PhaseInitializing, v1alpha1.PhaseSucceeded)
	delete(job.Annotations, sampleEarlierPhase)
	return job
}

// earlierRuns lists one earlier run of job with key that ended in phase, changed by edit.
func earlierRuns(phase string, edit func(*v1alpha1.NotebookValidationJob)) func(*v1alpha1.NotebookValidationJob, *v1alpha1.ReuseKey) []v1alpha1.NotebookValidationJob {
	return func(job *v1alpha1.NotebookValidationJob, key *v1alpha1.ReuseKey) []v1alpha1.NotebookValidationJob {
		run := sampleEarlierRun(job, key, phase)
		if edit != nil {
			edit(run)
		}
		return []v1alpha1.NotebookValidationJob{*run}
	}
}

// editJob is requestingJob changed by edit.
func editJob(edit func(*v1alpha1.NotebookValidationJob)) func() *v1alpha1.NotebookValidationJob {
	return func() *v1alpha1.NotebookValidationJob {
		job := requestingJob()
		edit(job)
		return job
	}
}

// changedPart returns an edit of an earlier run whose recorded key differs from the job's in
// the part set by change (its digest recomputed, as that run would have written it).
func changedPart(change func(*v1alpha1.ReuseKey)) func(*v1alpha1.NotebookValidationJob) {
	return func(run *v1alpha1.NotebookValidationJob) {
		change(run.Status.ReuseKey)
		run.Status.ReuseKey.Digest = "sha256:" + strings.Repeat("e", 64)
	}
}

func TestReuseDecisions(t *testing.T) {
	const artifactNamed = "artifact " + sampleArtifact
	runsAgain := func(why string) []string { return []string{why, "running the notebook"} }
	cases := []struct {
		name    string
		job     func() *v1alpha1.NotebookValidationJob
		runs    func(*v1alpha1.NotebookValidationJob, *v1alpha1.ReuseKey) []v1alpha1.NotebookValidationJob
		noCheck bool // the caller did not look for an earlier run

		phase       string
		reason      string                 // of the decision ("" when unchanged)
		reused      metav1.ConditionStatus // "" when the job must have no Reused condition
		reusedWhy   string                 // reason of the Reused condition
		message     []string               // in the Reused condition's message (else the job's)
		keyRecorded bool
	}{
		{name: "earlier run passed", job: requestingJob, runs: earlierRuns(v1alpha1.PhaseSucceeded, nil),
			phase: v1alpha1.PhaseSucceeded, reason: ReasonReused, reused: metav1.ConditionTrue, reusedWhy: ReasonReused, keyRecorded: true,
			message: []string{"notebooks/nb-yesterday", "uid 0f6e7d8c-0000-4000-8000-000000000001", artifactNamed, "without running the notebook", "notebook passed"}},
		{name: "earlier run failed", job: requestingJob, runs: earlierRuns(v1alpha1.PhaseFailed, nil),
			phase: v1alpha1.PhaseFailed, reason: ReasonReused, reused: metav1.ConditionTrue, reusedWhy: ReasonReused, keyRecorded: true,
			message: []string{"notebooks/nb-yesterday", artifactNamed, "ZeroDivisionError"}},
		{name: "earlier run without an artifact", job: requestingJob,
			runs:  earlierRuns(v1alpha1.PhaseSucceeded, func(r *v1alpha1.NotebookValidationJob) { r.Status.Artifact = nil }),
			phase: v1alpha1.PhaseSucceeded, reason: ReasonReused, reused: metav1.ConditionTrue, reusedWhy: ReasonReused, keyRecorded: true,
			message: []string{"notebooks/nb-yesterday", "no artifact"}},

		// A change to any part of the key runs the notebook again.
		{name: "other notebook commit", job: requestingJob, runs: earlierRuns(v1alpha1.PhaseSucceeded, changedPart(func(k *v1alpha1.ReuseKey) { k.Notebook += "x" })),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true, message: runsAgain("no finished run")},
		{name: "other golden commit", job: requestingJob, runs: earlierRuns(v1alpha1.PhaseSucceeded, changedPart(func(k *v1alpha1.ReuseKey) { k.Golden = "g@" + sampleCommit + ":g.ipynb" })),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true, message: runsAgain("no finished run")},
		{name: "other image", job: requestingJob, runs: earlierRuns(v1alpha1.PhaseSucceeded, changedPart(func(k *v1alpha1.ReuseKey) { k.Image = sampleSpecImage })),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true, message: runsAgain("no finished run")},
		{name: "other parameters", job: requestingJob, runs: earlierRuns(v1alpha1.PhaseSucceeded, changedPart(func(k *v1alpha1.ReuseKey) { k.Execution = "sha256:0" })),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true, message: runsAgain("no finished run")},
		{name: "other validation settings", job: requestingJob, runs: earlierRuns(v1alpha1.PhaseSucceeded, changedPart(func(k *v1alpha1.ReuseKey) { k.Validation = "sha256:0" })),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true, message: runsAgain("no finished run")},
		{name: "other comparison settings", job: requestingJob, runs: earlierRuns(v1alpha1.PhaseSucceeded, changedPart(func(k *v1alpha1.ReuseKey) { k.Comparison = "sha256:0" })),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true, message: runsAgain("no finished run")},
		{name: "other environment", job: requestingJob, runs: earlierRuns(v1alpha1.PhaseSucceeded, changedPart(func(k *v1alpha1.ReuseKey) { k.Environment = "sha256:0" })),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true, message: runsAgain("no finished run")},
		{name: "other runner", job: requestingJob, runs: earlierRuns(v1alpha1.PhaseSucceeded, changedPart(func(k *v1alpha1.ReuseKey) { k.Runner = "nbv-runner:v0" })),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true, message: runsAgain("no finished run")},

		// Only a finished run whose verdict is the notebook's counts.
		{name: "no earlier run", job: requestingJob, runs: func(*v1alpha1.NotebookValidationJob, *v1alpha1.ReuseKey) []v1alpha1.NotebookValidationJob { return nil },
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true,
			message: runsAgain("no finished run in namespace notebooks has reuse key sha256:")},
		{name: "earlier run timed out", job: requestingJob,
			runs:  earlierRuns(v1alpha1.PhaseFailed, func(r *v1alpha1.NotebookValidationJob) { r.Status.Conditions[0].Reason = ReasonTimeout }),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true},
		{name: "earlier run lost its pod", job: requestingJob,
			runs:  earlierRuns(v1alpha1.PhaseFailed, func(r *v1alpha1.NotebookValidationJob) { r.Status.Conditions[0].Reason = ReasonInfrastructureFailed }),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true},
		{name: "earlier run itself reused one", job: requestingJob,
			runs:  earlierRuns(v1alpha1.PhaseSucceeded, func(r *v1alpha1.NotebookValidationJob) { r.Status.Conditions[0].Reason = ReasonReused }),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true},
		{name: "earlier run still running", job: requestingJob,
			runs: earlierRuns(v1alpha1.PhaseValidationRunning, func(r *v1alpha1.NotebookValidationJob) {
				r.Status.Conditions, r.Status.CompletionTime = nil, nil
			}),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true},
		{name: "the job itself", job: requestingJob,
			runs:  earlierRuns(v1alpha1.PhaseSucceeded, func(r *v1alpha1.NotebookValidationJob) { r.UID = sampleJobUID }),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNoReusableRun, keyRecorded: true},

		// Jobs that do not ask see no change; a malformed request fails, naming it.
		{name: "no annotation", job: editJob(func(j *v1alpha1.NotebookValidationJob) { j.Annotations = nil }), runs: earlierRuns(v1alpha1.PhaseSucceeded, nil),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted},
		{name: "annotation false", job: editJob(func(j *v1alpha1.NotebookValidationJob) { j.Annotations[v1alpha1.AnnotationReuse] = "false" }), runs: earlierRuns(v1alpha1.PhaseSucceeded, nil),
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted},
		{name: "annotation malformed", job: editJob(func(j *v1alpha1.NotebookValidationJob) { j.Annotations[v1alpha1.AnnotationReuse] = "yes" }), runs: earlierRuns(v1alpha1.PhaseSucceeded, nil),
			phase: v1alpha1.PhaseFailed, reason: ReasonInvalidReuseRequest,
			message: []string{`cannot start: annotation mlops.mlops.dev/reuse is "yes": want "true"`}},

		// Inputs only a run resolves: the job says so and runs.
		{name: "branch ref", job: editJob(func(j *v1alpha1.NotebookValidationJob) { j.Spec.Notebook.Git.Ref = "main" }), noCheck: true,
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNotReusable,
			message: runsAgain(`not reusable: spec.notebook.git.ref "main" is a branch, tag or short SHA`)},
		{name: "image by tag", job: editJob(func(j *v1alpha1.NotebookValidationJob) { j.Spec.PodConfig.ContainerImage = sampleSpecImage }), noCheck: true,
			phase: v1alpha1.PhaseValidationRunning, reason: ReasonValidationStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNotReusable,
			message: runsAgain("not reusable: spec.podConfig.containerImage")},
		{name: "built image", job: editJob(func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: v1alpha1.BuildStrategyTekton}
		}), noCheck: true,
			phase: v1alpha1.PhaseBuilding, reason: ReasonBuildStarted, reused: metav1.ConditionFalse, reusedWhy: ReasonNotReusable,
			message: runsAgain("not reusable: spec.podConfig.buildConfig")},

		// A caller that did not look must not start a job that asks.
		{name: "not looked up", job: requestingJob, noCheck: true, phase: v1alpha1.PhaseInitializing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := c.job()
			obs := Observation{Kind: JobSeen, Now: sampleNow}
			key, keyErr := reuse.Key(job, sampleRunner)
			if !c.noCheck {
				if keyErr != nil {
					t.Fatalf("reuse.Key: %v", keyErr)
				}
				obs.Reuse = &ReuseCheck{Key: key, Runs: c.runs(job, key)}
			}
			d := Decide(job, obs)
			if d.Status.Phase != c.phase || d.Reason != c.reason || d.Changed != (c.reason != "") {
				t.Fatalf("phase %q reason %q changed %v (message %q); want %q %q", d.Status.Phase, d.Reason, d.Changed, d.Status.Message, c.phase, c.reason)
			}
			if (d.Status.ReuseKey != nil) != c.keyRecorded || (c.keyRecorded && *d.Status.ReuseKey != *key) {
				t.Errorf("status.reuseKey %+v, want recorded %v", d.Status.ReuseKey, c.keyRecorded)
			}
			message := d.Status.Message
			cond := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReused)
			switch {
			case c.reused == "" && cond != nil:
				t.Errorf("Reused condition %+v on a job that did not ask", cond)
			case c.reused != "" && (cond == nil || cond.Status != c.reused || cond.Reason != c.reusedWhy):
				t.Errorf("Reused condition %+v, want %s/%s", cond, c.reused, c.reusedWhy)
			case cond != nil:
				message = cond.Message
			}
			for _, want := range c.message {
				if !strings.Contains(message, want) {
					t.Errorf("message %q lacks %q", message, want)
				}
			}
			if c.reason != ReasonReused {
				if d.Status.ReusedRun != nil {
					t.Errorf("status.reusedRun %+v on a job that did not reuse", d.Status.ReusedRun)
				}
				return
			}
			// A reused job ends without a pod, with the run's results and artifact, named.
			run := obs.Reuse.Runs[0]
			if d.Effect != EffectNone || d.Status.ValidationPodName != "" || d.Status.CompletionTime == nil {
				t.Errorf("effect %q pod %q completion %v: want an ending without a pod", d.Effect, d.Status.ValidationPodName, d.Status.CompletionTime)
			}
			if d.Status.Message != cond.Message || len(d.Status.Results) != len(run.Status.Results) {
				t.Errorf("message %q results %+v, want the Reused message and the run's results", d.Status.Message, d.Status.Results)
			}
			wantRun := v1alpha1.ReusedRun{Namespace: run.Namespace, Name: run.Name, UID: string(run.UID)}
			if run.Status.Artifact != nil {
				wantRun.ArtifactReference = run.Status.Artifact.Reference
				if d.Status.Artifact == nil || d.Status.Artifact.Reference != sampleArtifact {
					t.Errorf("status.artifact %+v, want the run's", d.Status.Artifact)
				}
			}
			if d.Status.ReusedRun == nil || *d.Status.ReusedRun != wantRun {
				t.Errorf("status.reusedRun %+v, want %+v", d.Status.ReusedRun, wantRun)
			}
			ready := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady)
			if ready == nil || ready.Reason != ReasonReused {
				t.Errorf("Ready %+v, want reason %s", ready, ReasonReused)
			}
		})
	}
}

// Of several runs with the key, the latest to complete is reused.
func TestReusableRunIsTheLatest(t *testing.T) {
	job := requestingJob()
	key, err := reuse.Key(job, sampleRunner)
	if err != nil {
		t.Fatal(err)
	}
	older := sampleEarlierRun(job, key, v1alpha1.PhaseFailed)
	newer := sampleEarlierRun(job, key, v1alpha1.PhaseSucceeded)
	newer.Name, newer.UID = "nb-today", "0f6e7d8c-0000-4000-8000-000000000002"
	later := metav1.NewTime(sampleStart.Add(time.Minute))
	newer.Status.CompletionTime = &later
	for _, runs := range [][]v1alpha1.NotebookValidationJob{{*older, *newer}, {*newer, *older}} {
		if got := ReusableRun(key, job, runs); got == nil || got.Name != "nb-today" {
			t.Errorf("ReusableRun = %v, want nb-today", got)
		}
	}
}
