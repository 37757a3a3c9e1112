// Package podcompleted is the behaviour of the pod-completed function: on a validation Pod
// update event it re-reads the pod and its job and lets the state machine decide
// (ValidationRunning -> Succeeded | Failed, or a new pod after an infrastructure failure).
// A pod that ended before the job recorded it (its creator's status write still in flight) is
// answered with a redelivery request, since its outcome is announced only once.
// What the runner found comes from the pod's termination message, so no other call is made.
// A pod that the event's own object shows still on its way (pending or running, with nothing
// wrong) changes no job (statemachine.CouldApplyInAnyPhase): that event is answered with no
// API call, and the pod's outcome brings its own event.
package podcompleted

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/observe"
	"github.com/mlops-dev/nbv/internal/prefetch"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/transition"
)

// EventTypes are the CloudEvent types this function accepts.
var EventTypes = []string{events.TypeResourceUpdate}

// Handler handles one pod event with x, reading pods through store.
func Handler(x *transition.Executor, store *jobstore.Store) function.Handler {
	return func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		re, err := events.DecodeResourceEvent(e)
		if err != nil {
			return nil, err
		}
		if re.Kind != "Pod" || re.APIVersion != "v1" {
			return nil, fmt.Errorf("%w: pod-completed handles v1 Pod events, got %s %s", function.ErrBadInput, re.APIVersion, re.Kind)
		}
		job, err := re.JobLabel()
		if err != nil {
			return nil, err
		}
		var seen corev1.Pod
		if err := re.Decode(&seen); err != nil {
			return nil, err
		}
		if progress := observe.Pod(re.Name, &seen); !statemachine.CouldApplyInAnyPhase(progress.Kind) {
			function.Logger(function.WithJob(ctx, re.Namespace, job)).Debug("pod still on its way; nothing to do", "pod", re.Name, "observed", progress.Kind)
			return nil, nil
		}
		// The pod is read while the job is: one round trip instead of two in a row.
		pod := prefetch.Start(ctx, func(ctx context.Context) (*corev1.Pod, error) { return store.GetPod(ctx, re.Namespace, re.Name) })
		defer pod.Wait()
		return x.Step(ctx, re.Namespace, job, func(ctx context.Context, j *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
			return observePod(ctx, pod.Get, j, re.Name)
		})
	}
}

// observePod observes the pod as read fresh. A pod that is gone is observed as such. A pod of an earlier
// job of the same name (deleted and created again while its pod lives on) says nothing about
// this job: nothing is observed. Any other pod the job does not control is a forged hint and
// is refused.
func observePod(ctx context.Context, read func(context.Context) (*corev1.Pod, error), job *v1alpha1.NotebookValidationJob, name string) (statemachine.Observation, error) {
	pod, err := read(ctx)
	switch {
	case apierrors.IsNotFound(err):
		pod = nil
	case err != nil:
		return statemachine.Observation{}, err
	case earlierIncarnation(pod, job):
		function.Logger(ctx).Info("pod of an earlier job of the same name; ignored", "pod", name)
		return statemachine.Observation{}, nil
	case !metav1.IsControlledBy(pod, job):
		return statemachine.Observation{}, fmt.Errorf("%w: pod %s/%s is not controlled by job %s", function.ErrBadInput, job.Namespace, name, job.Name)
	}
	obs := observe.Pod(name, pod)
	if notYetRecorded(job, name) && statemachine.CouldApplyInAnyPhase(obs.Kind) {
		// The function that created the pod writes the job's status right after; a fast pod
		// can finish first. Its outcome will not be announced again, so ask the broker to
		// redeliver rather than leave the job to the sweep.
		return statemachine.Observation{}, fmt.Errorf("%w: pod %s/%s ended before job %s recorded it; redeliver", function.ErrConflict, job.Namespace, name, job.Name)
	}
	return obs, nil
}

// notYetRecorded reports whether name is the validation pod of the job's current or next
// attempt and the job, not finished, has not recorded it yet: its creator's status write is
// still in flight.
func notYetRecorded(job *v1alpha1.NotebookValidationJob, name string) bool {
	if statemachine.Terminal(job.Status.Phase) || job.Status.ValidationPodName == name {
		return false
	}
	attempt := job.Status.RetryCount
	return name == statemachine.PodName(job, attempt) || name == statemachine.PodName(job, attempt+1)
}

// earlierIncarnation reports whether pod is controlled by a job of job's name with another UID.
func earlierIncarnation(pod *corev1.Pod, job *v1alpha1.NotebookValidationJob) bool {
	ref := metav1.GetControllerOf(pod)
	return ref != nil && ref.APIVersion == v1alpha1.SchemeGroupVersion.String() && ref.Kind == v1alpha1.Kind &&
		ref.Name == job.Name && ref.UID != job.UID
}
