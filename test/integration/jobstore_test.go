package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// createJob creates config/samples/basic.yaml as name and returns it as the store reads it.
func createJob(t *testing.T, ctx context.Context, cp *controlplane.ControlPlane, store *jobstore.Store, ns, name string) *v1alpha1.NotebookValidationJob {
	t.Helper()
	if _, err := jobs(t, cp, ns).Create(ctx, sampleJob(t, name, ns), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	job, err := store.Get(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func TestJobstoreGetNotFound(t *testing.T) {
	f := newBareFixture(t)
	_, err := f.store.Get(f.ctx, f.ns, "absent")
	if !errors.Is(err, jobstore.ErrJobNotFound) || !apierrors.IsNotFound(err) {
		t.Errorf("err = %v, want ErrJobNotFound and IsNotFound", err)
	}
}

func TestJobstoreTransition(t *testing.T) {
	f := newBareFixture(t)
	cp, ctx, ns, store := f.cp, f.ctx, f.ns, f.store
	createJob(t, ctx, cp, store, ns, "iris")
	now := metav1.NewTime(time.Now().Truncate(time.Second))

	before := store.Calls()
	job, patched, err := store.Transition(ctx, ns, "iris", 3, func(_ context.Context, j *v1alpha1.NotebookValidationJob) (*v1alpha1.NotebookValidationJobStatus, error) {
		st := j.Status.DeepCopy()
		st.Phase, st.Message, st.StartTime = v1alpha1.PhaseInitializing, "initialized", &now
		st.BuildStatus = &v1alpha1.BuildStatus{Phase: v1alpha1.BuildPhasePending, Reason: "Queued", Message: "waiting"}
		return st, nil
	})
	if err != nil || !patched {
		t.Fatalf("Transition = %v, %v", patched, err)
	}
	if got := store.Calls() - before; got != 2 {
		t.Errorf("a transition without conflict made %d API calls, want 2 (GET + PATCH)", got)
	}
	if job.Status.Phase != v1alpha1.PhaseInitializing || job.Status.BuildStatus.Reason != "Queued" {
		t.Errorf("returned status = %+v", job.Status)
	}

	// The status is replaced wholesale: fields left out are gone, nested ones included.
	next := job.Status.DeepCopy()
	next.Message = ""
	next.BuildStatus.Reason, next.BuildStatus.Message = "", ""
	next.BuildStatus.Phase = v1alpha1.BuildPhaseRunning
	if _, err := store.PatchStatus(ctx, job, *next); err != nil {
		t.Fatal(err)
	}
	stored, err := store.Get(ctx, ns, "iris")
	if err != nil {
		t.Fatal(err)
	}
	if s := stored.Status; s.Message != "" || s.BuildStatus.Reason != "" || s.BuildStatus.Message != "" || s.BuildStatus.Phase != v1alpha1.BuildPhaseRunning || s.StartTime == nil {
		t.Errorf("stored status after wholesale patch = %+v / %+v", s, s.BuildStatus)
	}

	// A stale job (the resourceVersion before the last write) is refused with 409.
	if _, err := store.PatchStatus(ctx, job, job.Status); !apierrors.IsConflict(err) {
		t.Errorf("stale PatchStatus err = %v, want a conflict", err)
	}

	// A step that writes nothing writes nothing.
	before = store.Calls()
	if _, patched, err := store.Transition(ctx, ns, "iris", 3, func(context.Context, *v1alpha1.NotebookValidationJob) (*v1alpha1.NotebookValidationJobStatus, error) {
		return nil, nil
	}); err != nil || patched {
		t.Errorf("no-op Transition = %v, %v", patched, err)
	}
	if got := store.Calls() - before; got != 1 {
		t.Errorf("no-op transition made %d API calls, want 1", got)
	}
}

// TestJobstoreTransitionConflicts moves the job behind the store's back inside step, so the
// store's conditional write loses the race exactly as with a concurrent function.
func TestJobstoreTransitionConflicts(t *testing.T) {
	f := newBareFixture(t)
	cp, ctx, ns, store := f.cp, f.ctx, f.ns, f.store
	createJob(t, ctx, cp, store, ns, "iris")
	other := jobs(t, cp, ns)
	interfere := func(ctx context.Context, j *v1alpha1.NotebookValidationJob, msg string) {
		if _, err := patchStatus(ctx, other, j.Name, "", map[string]any{"message": msg}); err != nil {
			t.Fatal(err)
		}
	}

	// stepTo counts its calls in calls, lets move(call) write a message behind the store's back
	// when it returns one, then asks for phase.
	calls := 0
	stepTo := func(phase string, move func(call int) string) jobstore.Step {
		calls = 0
		return func(ctx context.Context, j *v1alpha1.NotebookValidationJob) (*v1alpha1.NotebookValidationJobStatus, error) {
			calls++
			if msg := move(calls); msg != "" {
				interfere(ctx, j, msg)
			}
			st := j.Status.DeepCopy()
			st.Phase = phase
			return st, nil
		}
	}

	job, patched, err := store.Transition(ctx, ns, "iris", 3, stepTo(v1alpha1.PhaseInitializing, func(call int) string {
		if call == 1 {
			return "moved by someone else"
		}
		return ""
	}))
	if err != nil || !patched || calls != 2 {
		t.Fatalf("Transition = %v, %v after %d steps, want success on the second", patched, err, calls)
	}
	// The second step saw the other writer's change and kept it.
	if job.Status.Message != "moved by someone else" || job.Status.Phase != v1alpha1.PhaseInitializing {
		t.Errorf("status = %+v", job.Status)
	}

	before := store.Calls()
	// A different message each time: writing an unchanged status would not move the job.
	_, patched, err = store.Transition(ctx, ns, "iris", 3, stepTo(v1alpha1.PhaseValidationRunning, func(call int) string {
		return fmt.Sprintf("moved again (%d)", call)
	}))
	var ce *jobstore.ConflictError
	if !errors.Is(err, jobstore.ErrConflict) || !errors.As(err, &ce) || ce.Attempts != 3 || patched || calls != 3 {
		t.Fatalf("exhausted Transition = %v, %v after %d steps, want a ConflictError after 3", patched, err, calls)
	}
	if got := store.Calls() - before; got != 6 {
		t.Errorf("3 lost rounds made %d API calls, want 6", got)
	}
}

// TestJobstorePods creates real validation pods in a namespace that enforces the restricted
// Pod Security Standard, so the API server itself checks Build's output.
func TestJobstorePods(t *testing.T) {
	f := newBareFixture(t)
	cp, ctx, ns, store, kube := f.cp, f.ctx, f.ns, f.store, f.kube
	restricted := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`)
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, restricted, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	job := createJob(t, ctx, cp, store, ns, "iris")
	job.Spec.Notebook.Git.CredentialsSecret = "git-https"
	job.Spec.GoldenNotebook = &v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "git@example.com:g.git", Ref: "main", CredentialsSecret: "git-ssh"}, Path: "g.ipynb"}
	job.Spec.PodConfig.Resources = &v1alpha1.ResourceRequirements{Limits: map[string]string{"memory": "2Gi"}}
	job.Spec.PodConfig.Credentials = []string{"hf-token"}
	fsGroup := int64(65532)
	opts := validationpod.Options{RunnerImage: "ghcr.io/mlops-dev/nbv-runner:test", FSGroup: &fsGroup}

	pod, err := validationpod.Build(job, "iris-validation", job.Spec.PodConfig.ContainerImage, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreatePod(ctx, pod); err != nil {
		t.Fatalf("CreatePod (restricted namespace): %v", err)
	}
	created, err := store.GetPod(ctx, ns, pod.Name)
	if err != nil {
		t.Fatal(err)
	}
	// The namespace really enforces: the same pod with privilege escalation is refused.
	insecure := pod.DeepCopy()
	insecure.Name = "iris-insecure"
	insecure.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
	if err := store.CreatePod(ctx, insecure); err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Errorf("CreatePod of a non-restricted pod: err = %v, want a PodSecurity violation", err)
	}
	if err := store.CreatePod(ctx, pod); err != nil {
		t.Errorf("second CreatePod: %v; want the existing pod taken as created", err)
	}
	if again, err := store.GetPod(ctx, ns, pod.Name); err != nil || again.UID != created.UID {
		t.Errorf("after the second CreatePod the pod is %v, %v; want the first, untouched", again, err)
	}

	// Another job's pod under the same name is a conflict no retry fixes.
	stranger := job.DeepCopy()
	stranger.UID = "00000000-0000-0000-0000-000000000001"
	foreign, err := validationpod.Build(stranger, "iris-validation", job.Spec.PodConfig.ContainerImage, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreatePod(ctx, foreign); !errors.Is(err, jobstore.ErrNotOwned) {
		t.Errorf("CreatePod over another job's pod: err = %v, want ErrNotOwned", err)
	}

	got, err := store.GetPod(ctx, ns, "iris-validation")
	if err != nil || got.Labels[validationpod.LabelJob] != "iris" {
		t.Fatalf("GetPod = %v, %v", got, err)
	}
	if o := validationpod.Classify(got); o.State != validationpod.StatePending {
		t.Errorf("a fresh pod classifies as %+v", o)
	}
	for range 2 { // the second delete finds nothing, which is still success
		if err := store.DeletePod(ctx, ns, "iris-validation"); err != nil {
			t.Errorf("DeletePod: %v", err)
		}
	}
	if _, err := store.GetPod(ctx, ns, "iris-validation"); !apierrors.IsNotFound(err) {
		t.Errorf("GetPod after delete: err = %v, want NotFound", err)
	}
}

func TestJobstoreRecordEvent(t *testing.T) {
	f := newBareFixture(t)
	cp, ctx, ns, store := f.cp, f.ctx, f.ns, f.store
	job := createJob(t, ctx, cp, store, ns, "iris")
	store.RecordEvent(ctx, job, corev1.EventTypeWarning, "NotebookFailed", "notebook failed at cell 3: ZeroDivisionError: division by zero")

	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	// The same selector kubectl describe uses to find a resource's events.
	list, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(job.UID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("found %d events for the job, want 1", len(list.Items))
	}
	ev := list.Items[0]
	if ev.Reason != "NotebookFailed" || ev.Type != corev1.EventTypeWarning || ev.InvolvedObject.Kind != v1alpha1.Kind || ev.InvolvedObject.Name != "iris" {
		t.Errorf("event = %+v", ev)
	}

	// Best effort: a failure (here, a namespace that does not exist) is logged, not returned.
	gone := job.DeepCopy()
	gone.Namespace = "no-such-namespace"
	store.RecordEvent(ctx, gone, corev1.EventTypeNormal, "Ignored", "x")
}
