package integration

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/jobcreated"
	"github.com/mlops-dev/nbv/internal/podcompleted"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// TestPodFinishedBeforeItsJobRecordedIt plays the race the bench found: job-created has
// created the validation pod but its ValidationRunning write has not landed when the pod
// finishes. pod-completed must ask for the event again (its outcome is never announced a
// second time) instead of answering "done" and leaving the job to the sweep; once the write
// lands, the redelivered event ends the job.
func TestPodFinishedBeforeItsJobRecordedIt(t *testing.T) {
	f := newBareFixture(t)
	job := f.createJob("fast", nil)
	settings := functionenv.Settings{Kube: f.cp.RESTConfig(), Pod: validationpod.Options{RunnerImage: testRunnerImage}}
	jx, _, err := functionenv.NewExecutor("job-created", settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	jc := jobcreated.Handler(jx)
	added := f.objectEvent(f.jobNow("fast"))
	// job-created's accepting write has landed; the start it takes over at once is in flight.
	accepted := statemachine.Decide(job, statemachine.Observation{Kind: statemachine.JobSeen, Now: metav1.Now()})
	if job, err = f.store.PatchStatus(f.ctx, job, accepted.Status); err != nil {
		t.Fatal(err)
	}
	if job.Status.Phase != v1alpha1.PhaseInitializing {
		t.Fatalf("phase %q, want Initializing", job.Status.Phase)
	}

	// The pod job-created is about to record, already finished.
	podName := statemachine.PodName(job, 0)
	pod, err := validationpod.Build(job, podName, job.Spec.PodConfig.ContainerImage, validationpod.Options{RunnerImage: testRunnerImage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.kube.CoreV1().Pods(f.ns).Create(f.ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.completePod(podName, 0, passedSummary())

	px, pstore, err := functionenv.NewExecutor("pod-completed", settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc := podcompleted.Handler(px, pstore)
	podEvent := func() error {
		p, err := f.kube.CoreV1().Pods(f.ns).Get(f.ctx, podName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = pc(f.ctx, f.objectEvent(p))
		return err
	}
	rv := f.jobNow("fast").ResourceVersion
	if err := podEvent(); !errors.Is(err, function.ErrConflict) {
		t.Fatalf("pod finished before the job recorded it: err = %v, want a redelivery (ErrConflict)", err)
	}
	if got := f.jobNow("fast"); got.ResourceVersion != rv {
		t.Errorf("the job was written (%s -> %s, phase %s) before it recorded its pod", rv, got.ResourceVersion, got.Status.Phase)
	}

	// job-created's start lands (the add event redelivered after its answer was lost: the
	// copy is outdated, the job is read, and the create finds its own pod), then the broker
	// redelivers the pod event.
	if _, err := jc(f.ctx, added); err != nil {
		t.Fatal(err)
	}
	if got := f.jobNow("fast"); got.Status.Phase != v1alpha1.PhaseValidationRunning || got.Status.ValidationPodName != podName {
		t.Fatalf("after job-created: phase %q pod %q, want ValidationRunning with %s", got.Status.Phase, got.Status.ValidationPodName, podName)
	}
	if err := podEvent(); err != nil {
		t.Fatalf("redelivered pod event: %v", err)
	}
	if got := f.jobNow("fast"); got.Status.Phase != v1alpha1.PhaseSucceeded {
		t.Errorf("phase %q after the redelivered pod event, want Succeeded", got.Status.Phase)
	}
}
