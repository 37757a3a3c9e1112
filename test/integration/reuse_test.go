package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/jobcreated"
	"github.com/mlops-dev/nbv/internal/reuse"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/sweep"
	"github.com/mlops-dev/nbv/internal/transition"
)

// pinnedImage is an image reference pinned by digest; the host kubelet runs the host's Python
// whatever the image.
const pinnedImage = "quay.io/jupyter/minimal-notebook@sha256:5f2c0a3b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b"

// TestUnchangedRunIsReused runs, on the local stack with a registry for run records, jobs
// that ask for reuse: the first executes and records its reuse key; a second with the same
// inputs ends Succeeded with the first's verdict and artifact, naming it, and no validation
// pod exists for it (the host kubelet ran no notebook); a third with one input changed (an
// env value) runs again. A job whose ref is a branch runs and says why it is not reusable,
// and a malformed annotation fails the job, naming the annotation.
func TestUnchangedRunIsReused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f, reg := newFixtureWithRegistry(t, ctx)
	ns := f.ns
	repoURL, work := f.startHostKubeletIn(map[string][]string{"reuse.ipynb": {
		"import os\nprint('seed', os.environ['SEED'])", "6 * 7",
	}})
	repo, err := git.PlainOpen(strings.TrimPrefix(repoURL, "file://"))
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	commit := head.Hash().String()
	create := func(name, ref, reuse, seed string) {
		f.createJob(name, func(j *v1alpha1.NotebookValidationJob) {
			j.Annotations = map[string]string{v1alpha1.AnnotationReuse: reuse}
			j.Spec.Notebook = v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: repoURL, Ref: ref}, Path: "reuse.ipynb"}
			j.Spec.PodConfig.ContainerImage = pinnedImage
			j.Spec.PodConfig.Env = []v1alpha1.EnvVar{{Name: "SEED", Value: seed}}
		})
	}
	terminal := func(j *v1alpha1.NotebookValidationJob) bool { return statemachine.Terminal(j.Status.Phase) }
	reusedCondition := func(j *v1alpha1.NotebookValidationJob, status metav1.ConditionStatus, reason string) *metav1.Condition {
		t.Helper()
		c := meta.FindStatusCondition(j.Status.Conditions, v1alpha1.ConditionReused)
		if c == nil || c.Status != status || c.Reason != reason {
			t.Fatalf("job %s: Reused condition %+v, want %s/%s (message %q)", j.Name, c, status, reason, j.Status.Message)
		}
		return c
	}

	// Run 1 executes: nothing to reuse yet; its key is recorded.
	start := time.Now()
	create("run-1", commit, "true", "1")
	first := f.waitJob("run-1", "Succeeded", terminal)
	freshTook := time.Since(start)
	if first.Status.Phase != v1alpha1.PhaseSucceeded || first.Status.ValidationPodName == "" || first.Status.Artifact == nil ||
		!strings.HasPrefix(first.Status.Artifact.Reference, reg.Repository()+"/"+ns+"@sha256:") {
		t.Fatalf("run-1: phase %s pod %q artifact %+v (%s)", first.Status.Phase, first.Status.ValidationPodName, first.Status.Artifact, first.Status.Message)
	}
	reusedCondition(first, metav1.ConditionFalse, statemachine.ReasonNoReusableRun)
	key := first.Status.ReuseKey
	if key == nil || key.Notebook != repoURL+"@"+commit+":reuse.ipynb" || key.Image != pinnedImage || key.Runner != testRunnerImage ||
		!strings.HasPrefix(key.Digest, "sha256:") || key.Execution == "" || key.Environment == "" {
		t.Fatalf("run-1: status.reuseKey %+v", key)
	}

	// Run 2, the same inputs: run 1's verdict and artifact, named, and no pod.
	start = time.Now()
	create("run-2", commit, "true", "1")
	second := f.waitJob("run-2", "ended", terminal)
	t.Logf("created -> terminal on the local stack: run-1 executed in %s, run-2 reused it in %s", freshTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if second.Status.Phase != v1alpha1.PhaseSucceeded {
		t.Fatalf("run-2: phase %s (%s), want Succeeded", second.Status.Phase, second.Status.Message)
	}
	c := reusedCondition(second, metav1.ConditionTrue, statemachine.ReasonReused)
	for _, want := range []string{ns + "/run-1", "uid " + string(first.UID), "artifact " + first.Status.Artifact.Reference, key.Digest, "without running the notebook"} {
		if !strings.Contains(c.Message, want) || !strings.Contains(second.Status.Message, want) {
			t.Errorf("run-2: condition message %q / status message %q lacks %q", c.Message, second.Status.Message, want)
		}
	}
	wantRun := v1alpha1.ReusedRun{Namespace: ns, Name: "run-1", UID: string(first.UID), ArtifactReference: first.Status.Artifact.Reference}
	if second.Status.ReusedRun == nil || *second.Status.ReusedRun != wantRun {
		t.Errorf("run-2: status.reusedRun %+v, want %+v", second.Status.ReusedRun, wantRun)
	}
	if second.Status.ReuseKey == nil || *second.Status.ReuseKey != *key {
		t.Errorf("run-2: status.reuseKey %+v, want run-1's %+v", second.Status.ReuseKey, key)
	}
	if second.Status.Artifact == nil || second.Status.Artifact.Reference != first.Status.Artifact.Reference || len(second.Status.Results) != len(first.Status.Results) {
		t.Errorf("run-2: artifact %+v results %+v, want run-1's", second.Status.Artifact, second.Status.Results)
	}
	if ready := meta.FindStatusCondition(second.Status.Conditions, v1alpha1.ConditionReady); ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != statemachine.ReasonReused {
		t.Errorf("run-2: Ready %+v", ready)
	}
	if pods := f.podsOf("run-2"); len(pods) > 0 || second.Status.ValidationPodName != "" {
		t.Errorf("run-2: %d validation pods, status.validationPodName %q: the notebook was run", len(pods), second.Status.ValidationPodName)
	}

	// Run 3, one input changed (an env value): runs again, under another key.
	create("run-3", commit, "true", "2")
	third := f.waitJob("run-3", "ended", terminal)
	if third.Status.Phase != v1alpha1.PhaseSucceeded || third.Status.ValidationPodName == "" || third.Status.ReusedRun != nil {
		t.Fatalf("run-3: phase %s pod %q reusedRun %+v (%s)", third.Status.Phase, third.Status.ValidationPodName, third.Status.ReusedRun, third.Status.Message)
	}
	reusedCondition(third, metav1.ConditionFalse, statemachine.ReasonNoReusableRun)
	if k := third.Status.ReuseKey; k == nil || k.Digest == key.Digest || k.Environment == key.Environment || k.Notebook != key.Notebook || k.Execution != key.Execution {
		t.Errorf("run-3: status.reuseKey %+v, want run-1's but for environment", k)
	}

	// A branch ref is not reusable: the job runs and says why.
	create("on-branch", "master", "true", "1")
	branch := f.waitJob("on-branch", "ended", terminal)
	if branch.Status.Phase != v1alpha1.PhaseSucceeded || branch.Status.ValidationPodName == "" || branch.Status.ReuseKey != nil {
		t.Fatalf("on-branch: phase %s pod %q key %+v (%s)", branch.Status.Phase, branch.Status.ValidationPodName, branch.Status.ReuseKey, branch.Status.Message)
	}
	if c := reusedCondition(branch, metav1.ConditionFalse, statemachine.ReasonNotReusable); !strings.Contains(c.Message, `spec.notebook.git.ref "master" is a branch, tag or short SHA`) {
		t.Errorf("on-branch: Reused message %q", c.Message)
	}

	// A malformed request fails the job, naming the annotation and the value, with no pod.
	create("malformed", commit, "yes", "1")
	bad := f.waitJob("malformed", "Failed", terminal)
	if bad.Status.Phase != v1alpha1.PhaseFailed || !strings.Contains(bad.Status.Message, `annotation mlops.mlops.dev/reuse is "yes": want "true"`) || len(f.podsOf("malformed")) > 0 {
		t.Errorf("malformed: phase %s message %q", bad.Status.Phase, bad.Status.Message)
	}

	// The host kubelet ran exactly the pods of the jobs that executed.
	ran, err := os.ReadDir(filepath.Join(work, ns))
	if err != nil {
		t.Fatal(err)
	}
	var pods []string
	for _, e := range ran {
		pods = append(pods, e.Name())
	}
	want := []string{first.Status.ValidationPodName, third.Status.ValidationPodName, branch.Status.ValidationPodName}
	slices.Sort(pods)
	slices.Sort(want)
	if !slices.Equal(pods, want) {
		t.Errorf("host kubelet ran pods %v, want %v", pods, want)
	}

	// kubectl describe says which run was reused, and no push is claimed for the reused job.
	evs := eventsUntil(t, ctx, f.kube, ns, "involvedObject.name=run-2", func(evs []corev1.Event) bool {
		return slices.ContainsFunc(evs, func(ev corev1.Event) bool { return ev.Reason == statemachine.ReasonReused })
	})
	var reasons []string
	for _, ev := range evs {
		reasons = append(reasons, ev.Reason)
		if ev.Reason == statemachine.ReasonReused && !strings.Contains(ev.Message, ns+"/run-1") {
			t.Errorf("run-2: Event %s %q does not name run-1", ev.Reason, ev.Message)
		}
	}
	if !slices.Contains(reasons, statemachine.ReasonReused) || slices.Contains(reasons, transition.ReasonArtifactPushed) {
		t.Errorf("run-2: Events %v, want %s and no %s", reasons, statemachine.ReasonReused, transition.ReasonArtifactPushed)
	}
}

// TestSweepReusesForAnUnseenJob: a job that asks for reuse and whose events were all lost is
// decided by the sweep as job-created would: the API server finds the earlier run by its key's
// digest (a selectable field), and the job ends with its verdict and no pod. A sweep that does
// not look for runs leaves such a job in Initializing rather than running it.
func TestSweepReusesForAnUnseenJob(t *testing.T) {
	f := newSweepFixture(t)
	pin := func(j *v1alpha1.NotebookValidationJob) {
		j.Annotations = map[string]string{v1alpha1.AnnotationReuse: "true"}
		j.Spec.Notebook.Git.Ref = "0123456789abcdef0123456789abcdef01234567"
		j.Spec.PodConfig.ContainerImage = pinnedImage
	}
	// The earlier run, as pod-completed left it.
	earlier := f.createJob("yesterday", pin)
	key, err := reuse.Key(earlier, testRunnerImage)
	if err != nil {
		t.Fatal(err)
	}
	done := metav1.NewTime(f.now.Add(-time.Hour))
	message := "notebook passed: 2 of 2 code cells succeeded"
	if _, err := f.store.PatchStatus(f.ctx, earlier, v1alpha1.NotebookValidationJobStatus{
		Phase: v1alpha1.PhaseSucceeded, Message: message, StartTime: &done, CompletionTime: &done, ReuseKey: key,
		ValidationPodName: statemachine.PodName(earlier, 0),
		Results:           []v1alpha1.CellResult{{CellIndex: 0, Status: v1alpha1.CellStatusSuccess}, {CellIndex: 1, Status: v1alpha1.CellStatusSuccess}},
		Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: statemachine.ReasonNotebookSucceeded,
			Message: message, LastTransitionTime: done}},
	}); err != nil {
		t.Fatal(err)
	}
	f.createJob("unseen", pin)
	f.ping(sweep.Options{}) // "" -> Initializing
	f.now = f.now.Add(time.Minute)
	f.ping(sweep.Options{})
	if job := f.get("unseen"); job.Status.Phase != v1alpha1.PhaseInitializing || len(f.podsOf("unseen")) > 0 {
		t.Fatalf("a sweep that does not look for runs moved the job to %q with pods %v", job.Status.Phase, podNames(f.podsOf("unseen")))
	}
	f.now = f.now.Add(time.Minute)
	f.ping(sweep.Options{Runs: jobcreated.RunFinder{Jobs: f.sweep, RunnerImage: testRunnerImage}})
	job := f.get("unseen")
	if job.Status.Phase != v1alpha1.PhaseSucceeded || job.Status.ReusedRun == nil || job.Status.ReusedRun.Name != "yesterday" ||
		job.Status.ReusedRun.UID != string(earlier.UID) || len(job.Status.Results) != 2 || len(f.podsOf("unseen")) > 0 {
		t.Fatalf("after the sweep looked: phase %q reusedRun %+v results %d pods %v (%s)", job.Status.Phase, job.Status.ReusedRun,
			len(job.Status.Results), podNames(f.podsOf("unseen")), job.Status.Message)
	}
}
