// Package buildstatus is the behaviour of the build-status-changed function for build child
// events: on an ApiServerSource update of a PipelineRun (tekton.dev/v1) or an OpenShift Build
// (build.openshift.io/v1) it re-reads the child and its job and lets the state machine decide
// (Building -> BuildComplete | Failed, or why a build is held before it runs). The event
// names the child; what it says about the build is never believed for a write: it only lets
// the function conclude "nothing to do" without reading the child, when the child as the
// event shows it would not change the fresh job. A build that runs is such a case: the job's
// Building already says it started, so Tekton's running, then succeeded, written in quick
// succession, lead to one write of the job, never two writes from the same resourceVersion of
// which one is refused with a 409. When the child read fresh has moved on from the event's
// resourceVersion, the event writes nothing either: the child's newer state brings its own
// event. The signed external-CI route of the same function is a separate handler
// (internal/externalci).
package buildstatus

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/prefetch"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/transition"
)

// EventTypes are the CloudEvent types of build child events this handler accepts.
var EventTypes = []string{events.TypeResourceUpdate}

// Observer observes a job's build child (buildchild.Builds): read fresh, or as an event
// carried it.
type Observer interface {
	ReadChild(ctx context.Context, r childapi.Resource, namespace, name string) (buildchild.Child, error)
	ObserveRead(ctx context.Context, job *v1alpha1.NotebookValidationJob, r childapi.Resource, name, resourceVersion string, read func(context.Context) (buildchild.Child, error)) (statemachine.Observation, bool, error)
	ObserveObject(obj *unstructured.Unstructured) (statemachine.Observation, error)
}

// Handler handles one build child event with x, reading the child through builds.
func Handler(x *transition.Executor, builds Observer) function.Handler {
	return func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		re, err := events.DecodeResourceEvent(e)
		if err != nil {
			return nil, err
		}
		r, ok := childapi.ObservedKind(re.Kind, re.APIVersion)
		if !ok {
			return nil, fmt.Errorf("%w: build-status-changed handles %s %s and %s %s events, got %s %s", function.ErrBadInput,
				childapi.PipelineRuns.APIVersion(), childapi.PipelineRuns.Kind, childapi.Builds.APIVersion(), childapi.Builds.Kind, re.APIVersion, re.Kind)
		}
		job, err := re.JobLabel()
		if err != nil {
			return nil, err
		}
		ctx = function.WithJob(ctx, re.Namespace, job)
		seen, err := builds.ObserveObject(re.Object)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", function.ErrBadInput, err)
		}
		read := func(ctx context.Context) (buildchild.Child, error) {
			return builds.ReadChild(ctx, r, re.Namespace, re.Name)
		}
		if finished(seen.Kind) {
			// The event shows the build's outcome, which the child read fresh decides: it is
			// read while the job is, one round trip instead of two in a row.
			child := prefetch.Start(ctx, read)
			defer child.Wait()
			read = child.Get
		}
		return x.Step(ctx, re.Namespace, job, func(ctx context.Context, j *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
			if want := childapi.ChildName(j); re.Name != want {
				// A build the job did not start: a re-run with `oc start-build` from its
				// BuildConfig (it inherits the label), or the child of an earlier job of the
				// same name. It says nothing about this job's build: observe nothing.
				function.Logger(ctx).Info("not the job's build child; ignored", "kind", re.Kind, "child", re.Name, "want", want)
				return statemachine.Observation{}, nil
			}
			if err := finishedEarly(re, j, seen); err != nil {
				return statemachine.Observation{}, err
			}
			if !wouldChange(j, seen) {
				// The child as the event shows it changes nothing (a build running, as the
				// job's Building says): a later state of the child brings its own event, so it
				// need not be read now.
				return statemachine.Observation{}, nil
			}
			obs, movedOn, err := builds.ObserveRead(ctx, j, r, re.Name, re.Object.GetResourceVersion(), read)
			if err != nil {
				return obs, err
			}
			if movedOn {
				// The child changed again since this event (a held build that runs, then
				// succeeds, in quick succession): its newer state brings its own event, and
				// only the step for that event writes. Deciding the newer state here as well
				// would have both steps write the job from the same resourceVersion, one of
				// them refused with a 409.
				function.Logger(ctx).Debug("the child moved on since this event; its own event decides", "kind", re.Kind, "child", re.Name)
				return statemachine.Observation{}, nil
			}
			return obs, finishedEarly(re, j, obs)
		})
	}
}

// finishedEarly is the error for a build observed finished while job has not recorded phase
// Building yet. job-created creates the child before it writes Building, so the result would
// otherwise be ignored and lost: answered 5xx, the event is redelivered once the write landed.
func finishedEarly(re events.ResourceEvent, job *v1alpha1.NotebookValidationJob, obs statemachine.Observation) error {
	if !finished(obs.Kind) || !beforeBuilding(job.Status.Phase) {
		return nil
	}
	return fmt.Errorf("%w: %s %s/%s finished before job %s recorded phase Building (it is %q)",
		function.ErrConflict, re.Kind, re.Namespace, re.Name, job.Name, job.Status.Phase)
}

// wouldChange reports whether obs, the child as an event showed it, would change job.
func wouldChange(job *v1alpha1.NotebookValidationJob, obs statemachine.Observation) bool {
	obs.Now = metav1.Now()
	return statemachine.Decide(job, obs).Changed
}

func finished(k statemachine.Kind) bool {
	switch k {
	case statemachine.BuildSucceeded, statemachine.BuildFailed, statemachine.BuildCancelled, statemachine.BuildTimedOut:
		return true
	}
	return false
}

func beforeBuilding(phase string) bool {
	return phase == v1alpha1.PhaseNone || phase == v1alpha1.PhaseInitializing || phase == v1alpha1.PhasePending
}
