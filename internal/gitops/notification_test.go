package gitops

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

func TestNotificationFor(t *testing.T) {
	job := &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: "train", Namespace: "team-a", UID: "uid-1",
		Annotations: map[string]string{AnnotationSyncWave: "3"}, Labels: map[string]string{"app.kubernetes.io/part-of": "ml-app"}}}
	for _, phase := range []string{"", v1alpha1.PhaseInitializing, v1alpha1.PhaseValidationRunning} {
		job.Status.Phase = phase
		if _, ok := NotificationFor(job); ok {
			t.Errorf("phase %q: a notification before the job ended", phase)
		}
	}
	job.Status.Phase, job.Status.Message = v1alpha1.PhaseSucceeded, "notebook passed"
	ok, _ := NotificationFor(job)
	if ok.Reason != ReasonSucceeded || ok.Type != "Normal" || ok.Labels[LabelNotificationType] != NotificationSuccess {
		t.Errorf("succeeded: %+v", ok)
	}
	for _, want := range []string{"'train' ValidationSucceeded", "Message: notebook passed", "Sync Wave: 3", "Application: ml-app", "Namespace: team-a"} {
		if !strings.Contains(ok.Message, want) {
			t.Errorf("message %q lacks %q", ok.Message, want)
		}
	}
	job.Status.Phase = v1alpha1.PhaseFailed
	failed, _ := NotificationFor(job)
	if failed.Reason != ReasonFailed || failed.Type != "Warning" || failed.Labels[LabelNotificationType] != NotificationFailure {
		t.Errorf("failed: %+v", failed)
	}
	// One name per job instance and outcome, and the same name every time.
	again, _ := NotificationFor(job)
	other := job.DeepCopy()
	other.UID = "uid-2"
	recreated, _ := NotificationFor(other)
	if again.Name != failed.Name || failed.Name == ok.Name || recreated.Name == failed.Name || len(failed.Name) > 63 {
		t.Errorf("names: %q %q %q %q", ok.Name, failed.Name, again.Name, recreated.Name)
	}
}
