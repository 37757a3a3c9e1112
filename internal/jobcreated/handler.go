// Package jobcreated is the behaviour of the job-created function: on a NotebookValidationJob
// add or update event it lets the state machine decide from the job alone ("" ->
// Initializing -> Building | ValidationRunning, BuildComplete -> ValidationRunning, legacy
// phases migrated): a plain status write from the event's own copy of the job, checked by the
// write itself (a copy the API server does not hold writes nothing, and the job is read); a
// child from the job as the API server answered this process, or as read fresh. A job it
// accepts ("" -> Initializing) is started in the same step from the API server's answer to
// that write (transition.Executor.TakeOver), so the event of the accepting write
// (statemachine.Accepted), like an event whose own object is in a phase with no such row
// (statemachine.CouldApply), is answered with no API call: phases only move forward and the
// write that moves the job on brings its own event. Every other phase is a no-op without a
// write. A job that ended with GitOps hooks
// pending (gitops.Pending) gets them performed here once (internal/gitopshooks). A job with
// spec.modelValidation starts only once its target models are ready (internal/modelready),
// woken by their objects' events too.
package jobcreated

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/gitops"
	"github.com/mlops-dev/nbv/internal/gitopshooks"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/transition"
)

// EventTypes are the CloudEvent types this function accepts.
var EventTypes = []string{events.TypeResourceAdd, events.TypeResourceUpdate}

// Handler handles one job event with x, performing no GitOps hooks.
func Handler(x *transition.Executor) function.Handler {
	return HandlerWithHooks(x, nil)
}

// HandlerWithHooks handles one job event with x, and performs with hooks the pending GitOps
// hooks of a job that ended (the event of its terminal write, whichever function made it).
// Only a job whose own object says its hooks are pending costs an API call for them.
func HandlerWithHooks(x *transition.Executor, hooks *gitopshooks.Runner) function.Handler {
	return HandlerWith(x, Options{Hooks: hooks})
}

// Options are what job-created does besides deciding from the job: a nil field is not done.
type Options struct {
	// Hooks performs the pending GitOps hooks of jobs that ended.
	Hooks *gitopshooks.Runner
	// Models reads the target models of jobs with spec.modelValidation; the events of model
	// objects are then handled too (modelChanged). Without it such a job waits until its
	// model deadline.
	Models ModelChecker
	// Runs looks for an earlier run with the same inputs for a job that asks for reuse
	// (internal/reuse). Without it such a job is not started (the sweep, which looks, may).
	Runs ReuseChecker
}

// ReuseChecker is what job-created and the sweep ask before starting a job (RunFinder).
type ReuseChecker interface {
	Check(ctx context.Context, job *v1alpha1.NotebookValidationJob) (*statemachine.ReuseCheck, error)
}

// HandlerWith handles one job event with x, or one model object's event, doing what o says.
func HandlerWith(x *transition.Executor, o Options) function.Handler {
	hooks, jobSeen := o.Hooks, observeJob(o.Models, o.Runs)
	return func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		re, err := events.DecodeResourceEvent(e)
		if err != nil {
			return nil, err
		}
		if o.Models != nil && re.Kind != v1alpha1.Kind {
			return modelChanged(ctx, x, jobSeen, re)
		}
		if re.Kind != v1alpha1.Kind || re.APIVersion != v1alpha1.SchemeGroupVersion.String() {
			return nil, fmt.Errorf("%w: job-created handles %s %s events, got %s %s",
				function.ErrBadInput, v1alpha1.SchemeGroupVersion, v1alpha1.Kind, re.APIVersion, re.Kind)
		}
		var seen v1alpha1.NotebookValidationJob
		if err := re.Decode(&seen); err != nil {
			return nil, err
		}
		if hooks != nil && gitops.Pending(&seen) {
			_, err := hooks.Run(ctx, nil, re.Namespace, re.Name)
			return nil, err
		}
		if !statemachine.CouldApply(seen.Status.Phase, statemachine.JobSeen) || statemachine.WaitsForModelEvent(&seen) || statemachine.Accepted(&seen) {
			function.Logger(function.WithJob(ctx, re.Namespace, re.Name)).Debug("nothing to do in this phase", "phase", seen.Status.Phase, "resourceVersion", seen.ResourceVersion)
			return nil, nil
		}
		// The event's copy decides a plain status write, which holds only if the API server
		// has exactly that copy; a child is created from the job as the API server answered
		// this process, or as read fresh (transition.Executor.StepFrom). A job accepted so is
		// started from the answer to that write.
		return x.StepFrom(ctx, jobstore.Carried{Job: &seen, Object: re.Object.Object}, jobSeen)
	}
}
