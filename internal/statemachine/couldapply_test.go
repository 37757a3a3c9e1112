package statemachine

import (
	"testing"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// jobVariants are the phase's samples and, for each, jobs that differ in everything a row may
// look at: build strategy (or none), build record, recorded pod, retries, start time.
func jobVariants(phase string) []*v1alpha1.NotebookValidationJob {
	bases := []*v1alpha1.NotebookValidationJob{sampleJob(phase, "")}
	for _, s := range samples(phase) {
		bases = append(bases, s.job)
	}
	strategies := []string{"", v1alpha1.BuildStrategyS2I, v1alpha1.BuildStrategyTekton, v1alpha1.BuildStrategyExternal, v1alpha1.BuildStrategyKaniko}
	var jobs []*v1alpha1.NotebookValidationJob
	for _, base := range bases {
		mutations := []func(*v1alpha1.NotebookValidationJob){
			func(*v1alpha1.NotebookValidationJob) {},
			func(j *v1alpha1.NotebookValidationJob) { j.Status.ValidationPodName = "" },
			func(j *v1alpha1.NotebookValidationJob) { j.Status.RetryCount = MaxInfraRetries },
			func(j *v1alpha1.NotebookValidationJob) { j.Status.BuildStatus = nil },
			func(j *v1alpha1.NotebookValidationJob) { j.Status.StartTime = nil },
			func(j *v1alpha1.NotebookValidationJob) { j.Spec.PodConfig.ContainerImage = "" },
			func(j *v1alpha1.NotebookValidationJob) {
				j.Status.BuildStatus = &v1alpha1.BuildStatus{Phase: v1alpha1.BuildPhaseRunning, Strategy: v1alpha1.BuildStrategyTekton}
			},
		}
		for _, strategy := range strategies {
			mutations = append(mutations, func(j *v1alpha1.NotebookValidationJob) {
				j.Spec.PodConfig.BuildConfig = nil
				if strategy != "" {
					j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: strategy}
				}
				if j.Status.BuildStatus != nil {
					j.Status.BuildStatus.Strategy = strategy
				}
			})
		}
		for _, mutate := range mutations {
			j := base.DeepCopy()
			mutate(j)
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// observationVariants are observations of kind about job that differ in everything a row may
// look at: the pod and build named, the image, the reason, why a start failed.
func observationVariants(job *v1alpha1.NotebookValidationJob, kind Kind) []Observation {
	base := sampleObservation(job, kind)
	var out []Observation
	for _, pod := range []string{base.PodName, "", "another-pod", PodName(job, 0), PodName(job, 1)} {
		for _, image := range []string{base.Image, "", sampleBuiltImage} {
			for _, reason := range []string{base.Reason, "", ReasonInconsistentSummary} {
				obs := base
				obs.PodName, obs.Image, obs.Reason = pod, image, reason
				out = append(out, obs)
			}
		}
	}
	for _, f := range AllStartFailures {
		obs := base
		obs.StartFailure = f
		out = append(out, obs)
	}
	noBuildName := base
	noBuildName.BuildName = ""
	return append(out, noBuildName)
}

// TestCouldApplyAgreesWithDecide: where CouldApply says no, Decide changes nothing for any
// job of that phase and any observation of that kind; where it says yes, some job and
// observation do change (so the table is as tight as Decide).
func TestCouldApplyAgreesWithDecide(t *testing.T) {
	phases := append(append([]string(nil), AllPhases...), "Paused")
	for _, phase := range phases {
		jobs := jobVariants(phase)
		for _, kind := range AllKinds {
			changed := 0
			for _, job := range jobs {
				for _, obs := range observationVariants(job, kind) {
					d := Decide(job, obs)
					if !d.Changed {
						continue
					}
					changed++
					if !CouldApply(phase, kind) && changed == 1 {
						t.Errorf("CouldApply(%q, %s) is false, but Decide moved a job to %q (%s): job status %+v, observation %+v",
							phase, kind, d.Status.Phase, d.Reason, job.Status, obs)
					}
				}
			}
			if CouldApply(phase, kind) && changed == 0 {
				t.Errorf("CouldApply(%q, %s) is true, but no job or observation changes", phase, kind)
			}
		}
	}
}

func TestPodProgressChangesNoJob(t *testing.T) {
	for _, kind := range AllKinds {
		want := kind != PodPending && kind != PodRunning
		if got := CouldApplyInAnyPhase(kind); got != want {
			t.Errorf("CouldApplyInAnyPhase(%s) = %v, want %v", kind, got, want)
		}
	}
}

// The job-created function skips a job event from its own object: these phases have no
// JobSeen row.
func TestJobSeenAppliesOnlyWhereJobCreatedActs(t *testing.T) {
	acts := map[string]bool{
		v1alpha1.PhaseNone: true, v1alpha1.PhaseInitializing: true, v1alpha1.PhasePending: true,
		v1alpha1.PhaseBuildComplete: true, v1alpha1.PhaseRunning: true,
	}
	for _, phase := range append(append([]string(nil), AllPhases...), "Paused") {
		if got := CouldApply(phase, JobSeen); got != acts[phase] {
			t.Errorf("CouldApply(%q, JobSeen) = %v, want %v", phase, got, acts[phase])
		}
	}
}

func TestAccepted(t *testing.T) {
	accepted := sampleJob(v1alpha1.PhaseNone, "")
	apply(accepted, Observation{Kind: JobSeen, Now: sampleNow})
	held := modelJob(v1alpha1.PhaseNone, sampleUnreadyModel)
	apply(held, Observation{Kind: JobSeen, Now: sampleNow})
	if d := apply(held, sampleObservation(held, JobSeen)); !d.Changed || held.Status.Phase != v1alpha1.PhaseInitializing {
		t.Fatalf("a job whose models are not ready: %+v, want held in Initializing", d)
	}
	cases := []struct {
		name string
		job  *v1alpha1.NotebookValidationJob
		want bool
	}{
		{"accepted", accepted, true},
		{"new", sampleJob(v1alpha1.PhaseNone, ""), false},
		{"initializing, nothing recorded", sampleJob(v1alpha1.PhaseInitializing, ""), false},
		{"held for its models", held, false},
		{"building", buildingJob(v1alpha1.BuildStrategyTekton), false},
	}
	for _, c := range cases {
		if got := Accepted(c.job); got != c.want {
			t.Errorf("%s (phase %q): Accepted %v, want %v", c.name, c.job.Status.Phase, got, c.want)
		}
	}
}
