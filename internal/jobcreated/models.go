package jobcreated

import (
	"context"
	"errors"
	"slices"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/modelready"
	"github.com/mlops-dev/nbv/internal/modelspec"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/transition"
)

// ModelChecker reads a job's platform and target models (modelready.Reader).
type ModelChecker interface {
	Check(ctx context.Context, job *v1alpha1.NotebookValidationJob) (*statemachine.ModelCheck, error)
}

// maxWaitingJobs bounds the Initializing jobs one model event lists and steps.
const maxWaitingJobs = 100

// waitingJobs selects the jobs a model event may start (the CRD declares status.phase a
// selectable field, so the API server filters).
const waitingJobs = "status.phase=" + v1alpha1.PhaseInitializing

// observeJob is job-created's observation: JobSeen, with what runs found for a job that asks
// for reuse, and a reading of the target models when the job awaits them and models is set.
func observeJob(models ModelChecker, runs ReuseChecker) transition.Observer {
	return func(ctx context.Context, job *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
		obs := statemachine.Observation{Kind: statemachine.JobSeen}
		if runs != nil {
			check, err := runs.Check(ctx, job)
			if err != nil {
				return obs, err
			}
			obs.Reuse = check
		}
		if models == nil || !statemachine.AwaitsModels(job) {
			return obs, nil
		}
		check, err := models.Check(ctx, job)
		if err != nil {
			return obs, err
		}
		obs.Models, obs.Message = check, check.Message
		return obs, nil
	}
}

// modelChanged handles the event of a model object (an InferenceService, a Deployment, a
// custom platform's kind): it names the model, not a job. An object that is not ready starts
// no job and costs no API call. Otherwise the Initializing jobs of its namespace (at most
// maxWaitingJobs) that await it are stepped, each deciding from its fresh state and a fresh
// reading of its models. The reply is the transition's when exactly one job moved.
func modelChanged(ctx context.Context, x *transition.Executor, observe transition.Observer, re events.ResourceEvent) (*cloudevents.Event, error) {
	log := function.Logger(ctx).With("model.kind", re.Kind, "model.namespace", re.Namespace, "model.name", re.Name)
	if re.Type == events.TypeResourceDelete || !modelready.ReadyObject(re.Object) {
		log.Debug("model not ready: no job can start")
		return nil, nil
	}
	jobs, _, err := x.Store.List(ctx, re.Namespace, waitingJobs, maxWaitingJobs, "")
	if err != nil {
		return nil, err
	}
	var replies []*cloudevents.Event
	var errs []error
	for i := range jobs {
		job := &jobs[i]
		if !statemachine.AwaitsModels(job) || !slices.Contains(modelspec.Names(job), re.Name) {
			continue
		}
		reply, err := x.Step(ctx, job.Namespace, job.Name, observe)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if reply != nil {
			replies = append(replies, reply)
		}
	}
	if len(errs) > 0 {
		// Redelivered: the jobs that moved already are then nothing to do.
		return nil, errors.Join(errs...)
	}
	if len(replies) == 1 {
		return replies[0], nil
	}
	return nil, nil
}
