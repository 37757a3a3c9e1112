package gitops

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/kmeta"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// LabelNotificationType labels the notification Event with NotificationSuccess or
// NotificationFailure.
const LabelNotificationType = "mlops.dev/notification-type"

// Notification types and Event reasons, the existing operator's.
const (
	NotificationSuccess = "validation-success"
	NotificationFailure = "validation-failure"
	ReasonSucceeded     = "ValidationSucceeded"
	ReasonFailed        = "ValidationFailed"
)

// Notification is the Event a finished job gets once.
type Notification struct {
	// Name is deterministic (job, UID, outcome), so creating it twice records it once.
	Name    string
	Type    string // Normal or Warning
	Reason  string
	Labels  map[string]string
	Message string
}

// NotificationFor is job's notification for its terminal phase, false for any other phase.
func NotificationFor(job *v1alpha1.NotebookValidationJob) (Notification, bool) {
	n := Notification{Type: corev1.EventTypeNormal, Reason: ReasonSucceeded, Labels: map[string]string{LabelNotificationType: NotificationSuccess}}
	switch job.Status.Phase {
	case v1alpha1.PhaseSucceeded:
	case v1alpha1.PhaseFailed:
		n.Type, n.Reason, n.Labels[LabelNotificationType] = corev1.EventTypeWarning, ReasonFailed, NotificationFailure
	default:
		return Notification{}, false
	}
	sum := sha256.Sum256([]byte(job.UID))
	n.Name = kmeta.ChildName(job.Name, "."+hex.EncodeToString(sum[:3])+"."+strings.ToLower(n.Reason))
	n.Message = notificationMessage(job, n.Reason)
	return n, true
}

// notificationMessage carries what notification templates show: the job, its outcome, its
// wave and Application when it has them (as the existing operator's message did).
func notificationMessage(job *v1alpha1.NotebookValidationJob, reason string) string {
	var b strings.Builder
	b.WriteString("NotebookValidationJob '" + job.Name + "' " + reason + "\n\nMessage: " + job.Status.Message + "\n")
	if wave := job.Annotations[AnnotationSyncWave]; wave != "" {
		b.WriteString("Sync Wave: " + wave + "\n")
	}
	if app := job.Labels["app.kubernetes.io/part-of"]; app != "" {
		b.WriteString("Application: " + app + "\n")
	}
	if t := job.Status.CompletionTime; t != nil {
		b.WriteString("Timestamp: " + t.UTC().Format("2006-01-02T15:04:05Z") + "\n")
	}
	b.WriteString("Namespace: " + job.Namespace + "\n")
	return b.String()
}
