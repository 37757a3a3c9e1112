package jobcreated

import (
	"context"
	"fmt"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/reuse"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// JobLister lists one page of jobs (jobstore.Store).
type JobLister interface {
	List(ctx context.Context, namespace, fieldSelector string, limit int64, cont string) ([]v1alpha1.NotebookValidationJob, string, error)
}

// reuseListPage is the page size of the lookup; it follows continue tokens to the end, since
// the run to reuse (the latest to complete) may be on any page.
const reuseListPage = 100

// RunFinder looks for the earlier runs a job that asks for reuse may take the verdict of: the
// jobs of its namespace whose status carries its reuse key, filtered by the API server
// (status.reuseKey.digest is a selectable field). The state machine picks among them.
type RunFinder struct {
	Jobs JobLister
	// RunnerImage is the runner image this function's validation pods run (NBV_RUNNER_IMAGE),
	// a part of the key.
	RunnerImage string
}

// Check is the Observation.Reuse of a job about to start: nil when it does not ask for reuse,
// asks in a malformed way or leaves an input of its spec open (Decide tells these apart from
// the job alone), else its key and the runs listed by it. It reads nothing for a job in any
// other phase than Initializing (or legacy Pending).
func (f RunFinder) Check(ctx context.Context, job *v1alpha1.NotebookValidationJob) (*statemachine.ReuseCheck, error) {
	switch job.Status.Phase {
	case v1alpha1.PhaseInitializing, v1alpha1.PhasePending:
	default:
		return nil, nil
	}
	if requested, err := reuse.Requested(job); err != nil || !requested || reuse.Pinned(job) != nil {
		return nil, nil
	}
	key, err := reuse.Key(job, f.RunnerImage)
	if err != nil {
		return &statemachine.ReuseCheck{NotReusable: err.Error()}, nil
	}
	check := &statemachine.ReuseCheck{Key: key}
	cont := ""
	for {
		page, next, err := f.Jobs.List(ctx, job.Namespace, reuse.FieldSelector(key), reuseListPage, cont)
		if err != nil {
			return nil, fmt.Errorf("look for an earlier run of job %s/%s with reuse key %s: %w", job.Namespace, job.Name, key.Digest, err)
		}
		check.Runs = append(check.Runs, page...)
		if next == "" {
			return check, nil
		}
		cont = next
	}
}
