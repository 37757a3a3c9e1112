package integration

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/metrics"
	"github.com/mlops-dev/nbv/internal/metrics/metricstest"
	"github.com/mlops-dev/nbv/internal/podcompleted"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/sweep"
	"github.com/mlops-dev/nbv/internal/transition"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// sweepFixture is a namespace with no event source and no function running: every event about
// its jobs is lost, so only what the test calls moves them. Its clock is the one the executors
// read (the jobs' recorded times and every deadline comparison).
type sweepFixture struct {
	*fixture
	now   time.Time
	x     *transition.Executor
	sweep *jobstore.Store // the sweep's own store, so its API calls can be counted
}

func newSweepFixture(t *testing.T) *sweepFixture {
	f := &sweepFixture{fixture: newBareFixture(t), now: time.Now().Truncate(time.Second)}
	f.x, f.sweep = f.executor("sweep")
	return f
}

// executor builds a function's executor on the fixture's clock.
func (f *sweepFixture) executor(service string) (*transition.Executor, *jobstore.Store) {
	f.t.Helper()
	settings := functionenv.Settings{Kube: f.functionConfig(service), Pod: validationpod.Options{RunnerImage: testRunnerImage}}
	x, store, err := functionenv.NewExecutor(service, settings, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	x.Now = func() time.Time { return f.now }
	return x, store
}

// ping delivers one PingSource event to the sweep's handler and returns the API calls it made.
func (f *sweepFixture) ping(opts sweep.Options) int64 {
	f.t.Helper()
	if opts.Namespace == "" && opts.NamespaceSelector == "" {
		opts.Namespace = f.ns // never sweep other tests' namespaces
	}
	ev := cloudevents.NewEvent()
	ev.SetID(fmt.Sprintf("ping-%d", f.now.Unix()))
	ev.SetType(events.TypePing)
	ev.SetSource("/apis/v1/namespaces/nbv-system/pingsources/nbv-sweep")
	_ = ev.SetData(cloudevents.ApplicationJSON, map[string]string{"reason": "sweep"})
	before := f.sweep.Calls()
	reply, err := sweep.Handler(f.x, f.sweep, opts)(f.ctx, ev)
	if err != nil || reply != nil {
		f.t.Fatalf("sweep answered reply %v, error %v; want neither", reply, err)
	}
	return f.sweep.Calls() - before
}

// seen plays job-created for one event: a JobSeen step at the fixture's clock.
func (f *sweepFixture) seen(name string) {
	f.t.Helper()
	x, _ := f.executor("job-created")
	if _, err := x.Run(f.ctx, f.ns, name, func(context.Context, *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
		return statemachine.Observation{Kind: statemachine.JobSeen}, nil
	}); err != nil {
		f.t.Fatalf("job-created step of %s: %v", name, err)
	}
}

// validating creates a job and moves it to ValidationRunning as job-created would, returning
// the job and its pod's name.
func (f *sweepFixture) validating(name string) (*v1alpha1.NotebookValidationJob, string) {
	f.t.Helper()
	f.createJob(name, nil)
	f.seen(name) // "" -> Initializing
	f.seen(name) // Initializing -> ValidationRunning, creating the pod
	job := f.get(name)
	if job.Status.Phase != v1alpha1.PhaseValidationRunning || len(f.podsOf(name)) != 1 {
		f.t.Fatalf("job %s is %q with pods %v, want ValidationRunning with one pod", name, job.Status.Phase, podNames(f.podsOf(name)))
	}
	return job, job.Status.ValidationPodName
}

func (f *sweepFixture) get(name string) *v1alpha1.NotebookValidationJob {
	f.t.Helper()
	job, err := f.store.Get(f.ctx, f.ns, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return job
}

// TestSweepFailsExternalBuildPastDeadline: nothing but the sweep enforces an external build's
// timeout. Within it the job is left alone; past it the job fails saying CI never reported.
func TestSweepFailsExternalBuildPastDeadline(t *testing.T) {
	f := newSweepFixture(t)
	f.createJob("ci", func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: v1alpha1.BuildStrategyExternal, Timeout: "5m"}
	})
	f.seen("ci")
	f.seen("ci")
	building := f.get("ci")
	if building.Status.Phase != v1alpha1.PhaseBuilding {
		t.Fatalf("phase = %q, want Building awaiting external CI", building.Status.Phase)
	}

	stop := f.watchWrites("ci")
	f.now = f.now.Add(4*time.Minute + 59*time.Second)
	calls := f.ping(sweep.Options{})
	if calls != 1 {
		t.Errorf("a sweep of one external build within its deadline made %d API calls, want 1 (the list)", calls)
	}
	f.now = f.now.Add(2 * time.Second) // 5m01s after the build started: no grace for external CI
	f.ping(sweep.Options{})
	time.Sleep(300 * time.Millisecond)
	if writes := stop(); !reflect.DeepEqual(writes, []string{v1alpha1.PhaseFailed}) {
		t.Errorf("writes = %v, want the one write that failed the job", writes)
	}

	job := f.get("ci")
	st := job.Status
	if st.Phase != v1alpha1.PhaseFailed || !strings.Contains(st.Message, "external CI never reported") || !strings.Contains(st.Message, "5m0s") {
		t.Fatalf("status = %q %q, want Failed saying external CI never reported within 5m0s", st.Phase, st.Message)
	}
	if st.BuildStatus == nil || st.BuildStatus.Phase != v1alpha1.BuildPhaseFailed || st.BuildStatus.Reason != statemachine.ReasonBuildTimeout {
		t.Errorf("buildStatus = %+v, want Failed with reason %s", st.BuildStatus, statemachine.ReasonBuildTimeout)
	}
	if st.CompletionTime == nil || !st.CompletionTime.Time.Equal(f.now) {
		t.Errorf("completionTime = %v, want the sweep's clock %v", st.CompletionTime, f.now)
	}
	if c := findCondition(job, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != statemachine.ReasonBuildTimeout {
		t.Errorf("Ready = %+v, want False/%s", c, statemachine.ReasonBuildTimeout)
	}
	if pods := f.podsOf("ci"); len(pods) != 0 {
		t.Errorf("children left: %v", podNames(pods))
	}
	f.expectEvents(job, statemachine.ReasonBuildTimeout)
}

// TestSweepFailsJobWhosePodNeverRan: a pod that never starts is never killed by its
// activeDeadlineSeconds (that counts from the start), so past the deadline the sweep fails
// the job and deletes the pod.
func TestSweepFailsJobWhosePodNeverRan(t *testing.T) {
	f := newSweepFixture(t)
	_, pod := f.validating("stuck")
	f.now = f.now.Add(10*time.Minute + statemachine.DeadlineGrace + time.Second)
	f.ping(sweep.Options{})
	job := f.get("stuck")
	if job.Status.Phase != v1alpha1.PhaseFailed || !strings.Contains(job.Status.Message, "did not finish within 10m0s") {
		t.Fatalf("status = %q %q, want Failed by the deadline", job.Status.Phase, job.Status.Message)
	}
	if pods := f.podsOf("stuck"); len(pods) != 0 {
		t.Errorf("pod %s not deleted: %v", pod, podNames(pods))
	}
}

// TestSweepRecoversLostPodEvent: the pod finished and pod-completed never heard of it. The
// sweep makes the same observation pod-completed makes: a twin job whose event was delivered
// ends with the same status.
func TestSweepRecoversLostPodEvent(t *testing.T) {
	f := newSweepFixture(t)
	_, lostPod := f.validating("lost")
	_, deliveredPod := f.validating("delivered")
	f.now = f.now.Add(90 * time.Second)
	f.completePod(lostPod, 0, passedSummary())
	f.completePod(deliveredPod, 0, passedSummary())

	px, pstore := f.executor("pod-completed")
	pod, err := f.kube.CoreV1().Pods(f.ns).Get(f.ctx, deliveredPod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := podcompleted.Handler(px, pstore)(f.ctx, f.objectEvent(pod)); err != nil {
		t.Fatal(err)
	}

	stop := f.watchWrites("lost")
	var calls int64
	recorded := metricstest.Collect(t, metrics.Install, func(context.Context) { calls = f.ping(sweep.Options{}) })
	time.Sleep(300 * time.Millisecond)
	if writes := stop(); !reflect.DeepEqual(writes, []string{v1alpha1.PhaseSucceeded}) {
		t.Errorf("writes = %v, want one write to Succeeded", writes)
	}
	// The recovery is counted as a lost event, with the run's end and its two cells; the
	// listing saw the one unfinished job.
	for _, want := range []struct {
		name  string
		attrs map[string]string
		value float64
	}{
		{metrics.NameSweepRecoveries, map[string]string{metrics.AttrPhase: v1alpha1.PhaseValidationRunning, metrics.AttrCause: metrics.CauseLostEvent}, 1},
		{metrics.NameTransitions, map[string]string{metrics.AttrFrom: v1alpha1.PhaseValidationRunning, metrics.AttrTo: v1alpha1.PhaseSucceeded}, 1},
		{metrics.NameCellDuration, map[string]string{metrics.AttrStatus: "Success"}, 2},
		{metrics.NameJobsActive, map[string]string{metrics.AttrPhase: v1alpha1.PhaseValidationRunning}, 1},
		{metrics.NameJobsOverdue, map[string]string{metrics.AttrPhase: v1alpha1.PhaseValidationRunning}, 0},
	} {
		found := false
		for _, p := range recorded[want.name].Points {
			match := true
			for k, v := range want.attrs {
				match = match && p.Attrs[k] == v
			}
			if match {
				found = true
				if p.Value != want.value {
					t.Errorf("%s %v = %v, want %v", want.name, want.attrs, p.Value, want.value)
				}
			}
		}
		if !found {
			t.Errorf("%s %v not recorded: %+v", want.name, want.attrs, recorded[want.name].Points)
		}
	}
	// list (the delivered job is finished and filtered out by the API server), get pod, get
	// job, notification event, patch status, event: the pod read to choose the observation is
	// not read again.
	t.Logf("API calls for a sweep recovering one lost pod event: %d", calls)
	if calls != 6 {
		t.Errorf("sweep took %d API calls, want 6", calls)
	}

	lost, delivered := f.get("lost").Status, f.get("delivered").Status
	if lost.Phase != v1alpha1.PhaseSucceeded {
		t.Fatalf("lost job is %q (%s), want Succeeded", lost.Phase, lost.Message)
	}
	if got, want := strings.ReplaceAll(lost.Message, "lost", "JOB"), strings.ReplaceAll(delivered.Message, "delivered", "JOB"); got != want {
		t.Errorf("messages differ:\n sweep:         %s\n pod-completed: %s", got, want)
	}
	if !reflect.DeepEqual(lost.Results, delivered.Results) || len(lost.Results) != 2 {
		t.Errorf("results differ: sweep %+v, pod-completed %+v", lost.Results, delivered.Results)
	}
	if !lost.CompletionTime.Equal(delivered.CompletionTime) {
		t.Errorf("completionTime %v, pod-completed wrote %v at the same clock", lost.CompletionTime, delivered.CompletionTime)
	}
	for _, c := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionValidationComplete} {
		a, b := findCondition(f.get("lost"), c), findCondition(f.get("delivered"), c)
		if a == nil || b == nil || a.Status != b.Status || a.Reason != b.Reason {
			t.Errorf("condition %s: sweep %+v, pod-completed %+v", c, a, b)
		}
	}
}

// TestSweepAdvancesUnseenJob: a job job-created never heard of is accepted and started in one
// ping, exactly as job-created would have done on its add event.
func TestSweepAdvancesUnseenJob(t *testing.T) {
	f := newSweepFixture(t)
	// A private repository's job: the sweep checks that its author may use the Secret before
	// it creates the pod.
	f.createJob("unseen", func(j *v1alpha1.NotebookValidationJob) { j.Spec.Notebook.Git.CredentialsSecret = "git-credentials" })
	stop := f.watchWrites("unseen")
	calls := f.ping(sweep.Options{})
	job := f.get("unseen")
	if job.Status.Phase != v1alpha1.PhaseValidationRunning || job.Status.ValidationPodName != statemachine.PodName(job, 0) {
		t.Fatalf("after one ping: %q pod %q, want ValidationRunning with the first pod", job.Status.Phase, job.Status.ValidationPodName)
	}
	if job.Status.StartTime == nil || !job.Status.StartTime.Time.Equal(f.now) {
		t.Errorf("started %v, want the sweep's clock %v", job.Status.StartTime, f.now)
	}
	if pods := f.podsOf("unseen"); len(pods) != 1 || !metav1.IsControlledBy(&pods[0], job) {
		t.Errorf("pods = %v, want the job's one validation pod", podNames(pods))
	}
	// A job accepted records no Kubernetes Event (transition.quiet); its start does.
	t.Logf("API calls for a sweep accepting and starting one unseen job (list, get, patch; create pod, patch, Event): %d", calls)
	if calls != 6 {
		t.Errorf("sweep took %d API calls, want 6", calls)
	}
	f.now = f.now.Add(time.Minute)
	f.ping(sweep.Options{})
	time.Sleep(300 * time.Millisecond)
	if writes := stop(); !reflect.DeepEqual(writes, []string{v1alpha1.PhaseInitializing, v1alpha1.PhaseValidationRunning}) {
		t.Errorf("writes = %v, want the accept and the start, then nothing", writes)
	}
}

// TestSweepLeavesRunningJobAlone: a job within its deadline whose pod runs costs one pod read
// and no write, however often the sweep looks.
func TestSweepLeavesRunningJobAlone(t *testing.T) {
	f := newSweepFixture(t)
	job, podName := f.validating("busy")
	pod, err := f.kube.CoreV1().Pods(f.ns).Get(f.ctx, podName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	if _, err := f.kube.CoreV1().Pods(f.ns).UpdateStatus(f.ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop := f.watchWrites("busy")
	started := f.now
	// Up to the last instant of spec.timeout (10m) plus grace, the kubelet is trusted to end it.
	for _, after := range []time.Duration{time.Minute, 5 * time.Minute, 10*time.Minute + statemachine.DeadlineGrace} {
		f.now = started.Add(after)
		if calls := f.ping(sweep.Options{}); calls != 2 {
			t.Errorf("%v in: sweep made %d API calls, want 2 (list, get pod)", after, calls)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if writes := stop(); len(writes) != 0 {
		t.Errorf("writes = %v, want none", writes)
	}
	if got := f.get("busy"); got.ResourceVersion != job.ResourceVersion {
		t.Errorf("resourceVersion %s -> %s", job.ResourceVersion, got.ResourceVersion)
	}
}

// TestSweepIsBounded: one ping examines at most MaxJobs jobs; the next minute's ping examines
// the next window, so every job is reached.
func TestSweepIsBounded(t *testing.T) {
	f := newSweepFixture(t)
	const bound = 3
	for i := range bound + 1 {
		f.createJob(fmt.Sprintf("job-%d", i), nil)
	}
	phases := func() map[string]int {
		list, _, err := f.store.List(f.ctx, f.ns, "", 0, "")
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, j := range list {
			n[j.Status.Phase]++
		}
		return n
	}
	f.ping(sweep.Options{MaxJobs: bound})
	if got := phases(); got[v1alpha1.PhaseValidationRunning] != bound || got[v1alpha1.PhaseNone] != 1 {
		t.Errorf("after one ping: %v, want %d started and 1 untouched", got, bound)
	}
	f.now = f.now.Add(time.Minute)
	f.ping(sweep.Options{MaxJobs: bound})
	if got := phases(); got[v1alpha1.PhaseNone] != 0 {
		t.Errorf("after the next minute's ping: %v, want no job left unseen", got)
	}
}

// TestSweepOnlyOptedInNamespaces: swept cluster-wide, the sweep moves jobs only in namespaces
// matching its selector (the one the event sources use, by default).
func TestSweepOnlyOptedInNamespaces(t *testing.T) {
	f := newSweepFixture(t)
	label := "nbv-sweep-test"
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, label, f.ns)
	if _, err := f.kube.CoreV1().Namespaces().Patch(f.ctx, f.ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	f.createJob("mine", nil)
	optedIn := f.ns
	f.ns = optedIn + "-other" // opted in as far as admission is concerned, but not selected
	if err := f.cp.EnsureOptedInNamespace(f.ctx, f.ns); err != nil {
		t.Fatal(err)
	}
	f.createJob("theirs", nil)

	f.ping(sweep.Options{NamespaceSelector: label + "=" + optedIn})
	if got := f.get("theirs").Status.Phase; got != v1alpha1.PhaseNone {
		t.Errorf("job in a namespace that did not opt in moved to %q", got)
	}
	f.ns = optedIn
	if got := f.get("mine").Status.Phase; got != v1alpha1.PhaseValidationRunning {
		t.Errorf("job in the opted-in namespace is %q, want ValidationRunning", got)
	}
}

// TestSweepRunsWithItsOwnRBAC sweeps cluster-wide, as deployed: listing opted-in namespaces
// and their jobs, advancing a job (status, Event, pod) and failing it past its deadline (pod
// deletion), all as the nbv-sweep ServiceAccount (every sweepFixture executor runs as its
// function's ServiceAccount).
func TestSweepRunsWithItsOwnRBAC(t *testing.T) {
	f := newSweepFixture(t)
	label := "nbv-sweep-rbac-test"
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"enabled"}}}`, label)
	if _, err := f.kube.CoreV1().Namespaces().Patch(f.ctx, f.ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	opts := sweep.Options{NamespaceSelector: label + "=enabled"}
	f.createJob("rbac", nil)

	ev := cloudevents.NewEvent()
	ev.SetID("rbac")
	ev.SetType(events.TypePing)
	ev.SetSource("/apis/v1/namespaces/nbv-system/pingsources/nbv-sweep")
	if _, err := sweep.Handler(f.x, f.sweep, opts)(f.ctx, ev); err != nil {
		t.Fatalf("sweep as nbv-sweep: %v", err)
	}
	f.ping(opts) // Initializing -> ValidationRunning: creates the pod
	if job := f.get("rbac"); job.Status.Phase != v1alpha1.PhaseValidationRunning || len(f.podsOf("rbac")) != 1 {
		t.Fatalf("job is %q with pods %v, want ValidationRunning with its pod", job.Status.Phase, podNames(f.podsOf("rbac")))
	}
	f.now = f.now.Add(time.Hour)
	f.ping(opts) // past the deadline: fails the job, deletes the pod
	job := f.get("rbac")
	if job.Status.Phase != v1alpha1.PhaseFailed || len(f.podsOf("rbac")) != 0 {
		t.Errorf("job is %q with pods %v, want Failed with its pod deleted", job.Status.Phase, podNames(f.podsOf("rbac")))
	}
	f.expectEvents(job, statemachine.ReasonValidationStarted, statemachine.ReasonTimeout)
}

// buildingWithChild creates a job with a strategy build and moves it to Building as
// job-created does, creating its child; it returns the sweep's build access.
func (f *sweepFixture) buildingWithChild(name, strategy string) *buildchild.Builds {
	f.t.Helper()
	settings := functionenv.Settings{Kube: f.functionConfig("sweep"), Pod: validationpod.Options{RunnerImage: testRunnerImage}}
	builds, err := buildchild.New(settings)
	if err != nil {
		f.t.Fatal(err)
	}
	f.x, f.sweep, err = functionenv.NewExecutor("sweep", settings, builds)
	if err != nil {
		f.t.Fatal(err)
	}
	f.x.Now = func() time.Time { return f.now }
	f.createJob(name, func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: strategy, Timeout: "5m"}
	})
	opts := sweep.Options{Builds: builds}
	f.ping(opts) // "" -> Initializing
	f.ping(opts) // Initializing -> Building, creating the child
	if job := f.get(name); job.Status.Phase != v1alpha1.PhaseBuilding {
		f.t.Fatalf("job %s is %q (%s), want Building", name, job.Status.Phase, job.Status.Message)
	}
	return builds
}

// children reads and writes build children of resource r in the fixture's namespace.
func (f *sweepFixture) children(r childapi.Resource) dynamic.ResourceInterface {
	f.t.Helper()
	c, err := dynamic.NewForConfig(f.cp.RESTConfig())
	if err != nil {
		f.t.Fatal(err)
	}
	return c.Resource(r.GVR).Namespace(f.ns)
}

// setChildStatus plays the build controller on the job's child.
func (f *sweepFixture) setChildStatus(r childapi.Resource, job string, status map[string]any) {
	f.t.Helper()
	c := f.children(r)
	obj, err := c.Get(f.ctx, statemachine.BuildName(f.get(job)), metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("get %s of %s: %v", r.Kind, job, err)
	}
	obj.Object["status"] = status
	if _, err := c.UpdateStatus(f.ctx, obj, metav1.UpdateOptions{}); err != nil {
		f.t.Fatalf("update %s status: %v", r.Kind, err)
	}
}

// TestSweepRecoversLostBuildEvent: the PipelineRun finished and build-status-changed never
// heard of it; the sweep observes the child and the job records the built image.
func TestSweepRecoversLostBuildEvent(t *testing.T) {
	f := newSweepFixture(t)
	builds := f.buildingWithChild("tkn", v1alpha1.BuildStrategyTekton)
	const digest = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
	f.setChildStatus(childapi.PipelineRuns, "tkn", map[string]any{
		"startTime": "2026-01-02T03:04:05Z", "completionTime": "2026-01-02T03:06:35Z",
		"conditions": []any{map[string]any{"type": "Succeeded", "status": "True", "reason": "Succeeded",
			"message": "Tasks Completed: 1", "lastTransitionTime": "2026-01-02T03:06:35Z"}},
		"results": []any{
			map[string]any{"name": "IMAGE_URL", "value": "registry.example.com/team/tkn:v1"},
			map[string]any{"name": "IMAGE_DIGEST", "value": digest},
		},
	})
	f.now = f.now.Add(time.Minute)
	jobCalls, childCalls := f.sweep.Calls(), builds.API.Calls()
	f.ping(sweep.Options{Builds: builds})
	jobCalls, childCalls = f.sweep.Calls()-jobCalls, builds.API.Calls()-childCalls
	job := f.get("tkn")
	if job.Status.Phase != v1alpha1.PhaseBuildComplete || job.Status.BuildStatus.ImageReference != "registry.example.com/team/tkn:v1@"+digest {
		t.Fatalf("job is %q with build %+v, want BuildComplete with the pinned image", job.Status.Phase, job.Status.BuildStatus)
	}
	// list, get job, patch status + one read of the child (not re-read to decide); a build's
	// success records no Kubernetes Event (transition.quiet).
	t.Logf("API calls for a sweep recovering one lost build event: %d job store + %d build child", jobCalls, childCalls)
	if jobCalls != 3 || childCalls != 1 {
		t.Errorf("sweep took %d + %d API calls, want 3 + 1", jobCalls, childCalls)
	}
	f.now = f.now.Add(time.Minute)
	f.ping(sweep.Options{Builds: builds})
	if pods := f.podsOf("tkn"); len(pods) != 1 || pods[0].Spec.Containers[0].Image != job.Status.BuildStatus.ImageReference {
		t.Errorf("after the next ping pods = %v, want one validating the built image", podNames(pods))
	}
}

// TestSweepFailsBuildPastDeadline: an OpenShift Build still running past its timeout and
// grace (the build system did not stop it) fails the job, and the Build is deleted.
func TestSweepFailsBuildPastDeadline(t *testing.T) {
	running := map[string]struct {
		child  childapi.Resource
		status map[string]any
	}{
		v1alpha1.BuildStrategyS2I: {childapi.Builds, map[string]any{"phase": "Running", "startTimestamp": "2026-01-02T03:04:05Z"}},
		v1alpha1.BuildStrategyTekton: {childapi.PipelineRuns, map[string]any{"startTime": "2026-01-02T03:04:05Z",
			"conditions": []any{map[string]any{"type": "Succeeded", "status": "Unknown", "reason": "Running",
				"lastTransitionTime": "2026-01-02T03:04:05Z"}}}},
	}
	for strategy, r := range running {
		t.Run(strategy, func(t *testing.T) {
			f := newSweepFixture(t)
			builds := f.buildingWithChild("build", strategy)
			f.setChildStatus(r.child, "build", r.status)
			f.now = f.now.Add(5*time.Minute + statemachine.DeadlineGrace - time.Second)
			f.ping(sweep.Options{Builds: builds})
			if job := f.get("build"); job.Status.Phase != v1alpha1.PhaseBuilding {
				t.Fatalf("within timeout and grace the job moved to %q", job.Status.Phase)
			}
			f.now = f.now.Add(2 * time.Second)
			f.ping(sweep.Options{Builds: builds})
			job := f.get("build")
			if job.Status.Phase != v1alpha1.PhaseFailed || !strings.Contains(job.Status.Message, "the build did not finish within 5m0s") {
				t.Fatalf("status = %q %q, want Failed by the build deadline", job.Status.Phase, job.Status.Message)
			}
			_, err := f.children(r.child).Get(f.ctx, statemachine.BuildName(job), metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("the %s was not deleted: %v", r.child.Kind, err)
			}
		})
	}
}

// TestSweepDeletesExpiredReplayLeases: the external-CI route's replay guard leaves a Lease per
// accepted event; the sweep removes those whose window has passed and keeps the others.
func TestSweepDeletesExpiredReplayLeases(t *testing.T) {
	f := newSweepFixture(t)
	store := cisignature.LeaseStore{Leases: cisignature.LeasesOver(f.dynamic()), Now: func() time.Time { return f.now }}
	for _, id := range []string{"old", "new"} {
		expires := f.now.Add(-time.Minute)
		if id == "new" {
			expires = f.now.Add(time.Hour)
		}
		if fresh, err := store.Remember(f.ctx, f.ns, "ci://test", id, expires); err != nil || !fresh {
			t.Fatalf("remember %s: fresh=%v %v", id, fresh, err)
		}
	}
	// build-status-changed remembered them; the sweep, as its ServiceAccount, collects them.
	sweepDyn, err := dynamic.NewForConfig(f.functionConfig("sweep"))
	if err != nil {
		t.Fatal(err)
	}
	f.ping(sweep.Options{Namespace: f.ns, ReplayLeases: cisignature.LeaseStore{Leases: cisignature.LeasesOver(sweepDyn), Now: store.Now}})
	leases, err := f.kube.CoordinationV1().Leases(f.ns).List(f.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(leases.Items) != 1 || leases.Items[0].Name != cisignature.LeaseName("ci://test", "new") {
		t.Errorf("leases left: %d, want only the unexpired one", len(leases.Items))
	}
}

// TestSweepReportsLabelWithoutRoleBindings: a namespace that carries the opt-in label but not
// the RoleBindings of config/rbac/opt-in/ gets no transitions (the functions may not act
// there), so the sweep, running as nbv-sweep, reports it: one Warning Event NotBound in
// nbv-system about that Namespace (kubectl describe namespace shows it), saying what to apply,
// recorded once however many sweeps see it; the bound namespace is swept as before.
func TestSweepReportsLabelWithoutRoleBindings(t *testing.T) {
	f := newSweepFixture(t)
	label := "nbv-sweep-notbound-test"
	bound := f.ns
	unbound := bound + "-unbound"
	if err := f.cp.EnsureOptedInNamespace(f.ctx, unbound); err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, label, bound)
	for _, ns := range []string{bound, unbound} {
		if _, err := f.kube.CoreV1().Namespaces().Patch(f.ctx, ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f.createJob("bound", nil)
	f.ns = unbound
	f.createJob("orphan", nil)
	f.ns = bound

	opts := sweep.Options{NamespaceSelector: label + "=" + bound}
	f.ping(opts)
	f.now = f.now.Add(time.Minute)
	f.ping(opts)

	if got := f.get("bound").Status.Phase; got == v1alpha1.PhaseNone {
		t.Errorf("the job in the bound namespace was not swept")
	}
	orphan, err := f.store.Get(f.ctx, unbound, "orphan")
	if err != nil {
		t.Fatal(err)
	}
	if orphan.Status.Phase != v1alpha1.PhaseNone {
		t.Errorf("the job in the unbound namespace moved to %q; the sweep may not act there", orphan.Status.Phase)
	}
	ns, err := f.kube.CoreV1().Namespaces().Get(f.ctx, unbound, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := f.kube.CoreV1().Events("").List(f.ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Namespace,involvedObject.uid=" + string(ns.UID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d Events about namespace %s after two sweeps, want exactly one", len(list.Items), unbound)
	}
	ev := list.Items[0]
	if ev.Namespace != sweep.EventNamespace || ev.Name != sweep.NotBoundEventName(unbound) || ev.Type != corev1.EventTypeWarning || ev.Reason != sweep.ReasonNotBound {
		t.Errorf("event %s/%s %s %s, want %s/%s Warning %s", ev.Namespace, ev.Name, ev.Type, ev.Reason,
			sweep.EventNamespace, sweep.NotBoundEventName(unbound), sweep.ReasonNotBound)
	}
	for _, want := range []string{v1alpha1.OptInLabel + "=" + v1alpha1.OptInValue, "kubectl apply -n " + unbound + " -f config/rbac/opt-in/", "nbv-sweep"} {
		if !strings.Contains(ev.Message, want) {
			t.Errorf("event message %q does not say %q", ev.Message, want)
		}
	}
	boundNS, err := f.kube.CoreV1().Namespaces().Get(f.ctx, bound, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if others, _ := f.kube.CoreV1().Events("").List(f.ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Namespace,involvedObject.uid=" + string(boundNS.UID)}); others != nil && len(others.Items) != 0 {
		t.Errorf("the bound namespace was reported too: %s", others.Items[0].Message)
	}
}
