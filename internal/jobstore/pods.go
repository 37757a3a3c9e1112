package jobstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statustext"
)

// ErrNotOwned is wrapped when an object holds a child's name and is not controlled by the job
// (by UID) the child is for. Retrying cannot fix it.
var ErrNotOwned = errors.New("exists and is not controlled by job")

// NotOwned is the error for existing, an object of kind found at the name of a child of job
// jobName (uid jobUID) but not controlled by it: it names the object and its controller.
func NotOwned(kind string, existing metav1.Object, jobName string, jobUID types.UID) error {
	return fmt.Errorf("%s %s/%s %w %s (uid %s); its controller is %s", kind, existing.GetNamespace(), existing.GetName(),
		ErrNotOwned, jobName, jobUID, describeRef(metav1.GetControllerOf(existing)))
}

// CreatePod creates pod. A pod of that name that already exists counts as created when it has
// the same controller (the job, by UID): an earlier attempt of the same decision made it. Any
// other pod there is ErrNotOwned. The pod as created is not decoded: nobody uses it, and a
// process's first decoding of a Pod is a few milliseconds of its cold start.
func (s *Store) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	key := pod.Namespace + "/" + pod.Name
	err := s.core.Post().Namespace(pod.Namespace).Resource("pods").Body(pod).Do(ctx).Error()
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create pod %s: %w", key, err)
	}
	existing, err := s.GetPod(ctx, pod.Namespace, pod.Name)
	if err != nil {
		return fmt.Errorf("create pod %s: it already exists, and reading it failed: %w", key, err)
	}
	want, have := metav1.GetControllerOf(pod), metav1.GetControllerOf(existing)
	if want != nil && have != nil && want.UID == have.UID {
		return nil
	}
	if want == nil {
		want = &metav1.OwnerReference{}
	}
	return fmt.Errorf("create pod %s: %w", key, NotOwned("Pod", existing, want.Name, want.UID))
}

func describeRef(r *metav1.OwnerReference) string {
	if r == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s (uid %s)", r.Kind, r.Name, r.UID)
}

// GetPod reads a pod; a missing pod satisfies apierrors.IsNotFound.
func (s *Store) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	if err := s.core.Get().Namespace(namespace).Resource("pods").Name(name).Do(ctx).Into(pod); err != nil {
		return nil, fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	return pod, nil
}

// DeletePod deletes a pod. A pod that is already gone counts as deleted.
func (s *Store) DeletePod(ctx context.Context, namespace, name string) error {
	err := s.core.Delete().Namespace(namespace).Resource("pods").Name(name).Do(ctx).Error()
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

// Event sources, as kubectl describe shows them.
const (
	eventComponent  = "nbv"
	eventController = "mlops.mlops.dev/nbv"
)

// RecordEvent attaches a core/v1 Event (type corev1.EventTypeNormal or EventTypeWarning) to
// the job for kubectl describe. It is best effort: a failure is logged, never returned, since
// the transition it reports has already happened.
func (s *Store) RecordEvent(ctx context.Context, job *v1alpha1.NotebookValidationJob, eventType, reason, message string) {
	ev := newEvent(job, eventType, reason, message, time.Now())
	if err := s.core.Post().Namespace(job.Namespace).Resource("events").Body(ev).Do(ctx).Error(); err != nil {
		s.log.WarnContext(ctx, "recording event on job failed",
			"namespace", job.Namespace, "job", job.Name, "reason", reason, "error", err)
	}
}

// RecordNamedEvent records an Event on job under a name the caller makes deterministic, with
// labels (notification rules select on them). An Event of that name that already exists
// counts as recorded, so a repeated call records it once.
func (s *Store) RecordNamedEvent(ctx context.Context, job *v1alpha1.NotebookValidationJob, name string, labels map[string]string, eventType, reason, message string) error {
	ev := newEvent(job, eventType, reason, message, time.Now())
	ev.GenerateName, ev.Name, ev.Labels = "", name, labels
	err := s.core.Post().Namespace(job.Namespace).Resource("events").Body(ev).Do(ctx).Error()
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("record event %s on job %s/%s: %w", name, job.Namespace, job.Name, err)
	}
	return nil
}

// RecordNamespaceEvent records an Event about the namespace ns in the namespace into (the API
// server takes Events about cluster-scoped objects only in "default"), under a name the caller
// makes deterministic: an Event of that name that already exists counts as recorded.
// `kubectl describe namespace` lists it.
func (s *Store) RecordNamespaceEvent(ctx context.Context, into string, ns *corev1.Namespace, name, eventType, reason, message string) error {
	ref := corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: ns.Name, UID: ns.UID, ResourceVersion: ns.ResourceVersion}
	ev := newEventOn(ref, into, eventType, reason, message, time.Now())
	ev.GenerateName, ev.Name = "", name
	err := s.core.Post().Namespace(into).Resource("events").Body(ev).Do(ctx).Error()
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("record event %s/%s on namespace %s: %w", into, name, ns.Name, err)
	}
	return nil
}

func newEvent(job *v1alpha1.NotebookValidationJob, eventType, reason, message string, now time.Time) *corev1.Event {
	return newEventOn(corev1.ObjectReference{
		APIVersion:      v1alpha1.SchemeGroupVersion.String(),
		Kind:            v1alpha1.Kind,
		Namespace:       job.Namespace,
		Name:            job.Name,
		UID:             job.UID,
		ResourceVersion: job.ResourceVersion,
	}, job.Namespace, eventType, reason, message, now)
}

// newEventOn is an Event about ref, stored in namespace into.
func newEventOn(ref corev1.ObjectReference, into, eventType, reason, message string, now time.Time) *corev1.Event {
	t := metav1.NewTime(now)
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// The server appends a random suffix, trimming the base to fit the name limit.
			GenerateName: ref.Name + ".",
			Namespace:    into,
		},
		InvolvedObject:      ref,
		Reason:              reason,
		Message:             statustext.Clean(message, statustext.MaxEventMessage),
		Type:                eventType,
		Source:              corev1.EventSource{Component: eventComponent},
		FirstTimestamp:      t,
		LastTimestamp:       t,
		Count:               1,
		ReportingController: eventController,
	}
}
