package sweep

import (
	"time"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// pingInterval is the PingSource's schedule (eventsources/sweep.yaml): the rotation advances
// one window per interval.
const pingInterval = time.Minute

// schedule picks, from the listed non-terminal jobs, at most limit to examine now. It reads only
// the listed state and the clock (no I/O), so a job that needs nothing and costs nothing to
// rule out — an external build within its deadline, a phase the sweep has nothing to say
// about — never takes a slot.
//
// Fairness without keeping state between pings: jobs past their deadline come first (they
// need a write and are rare); the others follow in list order (namespace, then name) rotated
// by limit places per minute of the clock, so when more than limit jobs qualify, consecutive pings
// examine consecutive windows and every job is examined at least once every
// ceil(qualifying/limit) minutes. Overdue jobs are rotated the same way when they alone exceed
// limit, so one that keeps failing cannot hold its slot forever.
func schedule(jobs []v1alpha1.NotebookValidationJob, now time.Time, limit int, observeBuilds bool) []*v1alpha1.NotebookValidationJob {
	var overdue, rest []*v1alpha1.NotebookValidationJob
	for i := range jobs {
		job := &jobs[i]
		switch {
		case pastDeadline(job, now):
			overdue = append(overdue, job)
		case worthExamining(job, observeBuilds):
			rest = append(rest, job)
		}
	}
	window := int(now.Unix() / int64(pingInterval/time.Second))
	picked := rotate(overdue, window, limit)
	return append(picked, rotate(rest, window, limit-len(picked))...)
}

// pastDeadline reports whether the job's deadline (statemachine.Deadline) is before now.
func pastDeadline(job *v1alpha1.NotebookValidationJob, now time.Time) bool {
	deadline, ok := statemachine.Deadline(job)
	return ok && now.After(deadline)
}

// worthExamining reports whether a job within its deadline may have missed an event the
// sweep can recover: the validation pod's end, a build child's end (when builds are
// observed), or the job's own add/update that job-created acts on.
func worthExamining(job *v1alpha1.NotebookValidationJob, observeBuilds bool) bool {
	switch job.Status.Phase {
	case v1alpha1.PhaseValidationRunning:
		return job.Status.ValidationPodName != ""
	case v1alpha1.PhaseBuilding:
		return observeBuilds && childBuild(job)
	case v1alpha1.PhaseNone, v1alpha1.PhaseInitializing, v1alpha1.PhaseBuildComplete,
		v1alpha1.PhasePending, v1alpha1.PhaseRunning:
		return true
	}
	return false
}

// childBuild reports whether a Building job's build runs in a child the sweep can read (a
// PipelineRun or an OpenShift Build) rather than in external CI, which only reports by event.
func childBuild(job *v1alpha1.NotebookValidationJob) bool {
	return statemachine.BuildStrategy(job) != v1alpha1.BuildStrategyExternal
}

// rotate returns at most n of jobs, starting window*n places in and wrapping around; all of
// them, in order, when they fit.
func rotate(jobs []*v1alpha1.NotebookValidationJob, window, n int) []*v1alpha1.NotebookValidationJob {
	if n <= 0 {
		return nil
	}
	if len(jobs) <= n {
		return jobs
	}
	start := (window % len(jobs)) * (n % len(jobs)) % len(jobs)
	out := make([]*v1alpha1.NotebookValidationJob, 0, n)
	for i := range n {
		out = append(out, jobs[(start+i)%len(jobs)])
	}
	return out
}
