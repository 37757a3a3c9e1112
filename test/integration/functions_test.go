package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/jobcreated"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/localstack"
	"github.com/mlops-dev/nbv/internal/podcompleted"
	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/tracing"
	"github.com/mlops-dev/nbv/internal/tracing/tracingtest"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

const testRunnerImage = "registry.example.com/nbv-runner:test"

// fixture is one test's namespace with the whole event-driven stack running in it: Knative's
// ApiServerSource adapters, the broker and the functions. The test plays the kubelet.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	ns    string
	cp    *controlplane.ControlPlane
	kube  kubernetes.Interface
	store *jobstore.Store
	stack *localstack.Stack
}

// newBareFixture is a namespace and clients, with no function running in it.
func newBareFixture(t *testing.T) *fixture {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	store, err := jobstore.New(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, ns: newNamespace(t, ctx, cp), cp: cp, kube: kube, store: store}
}

// newFixture is a namespace with the whole stack running for it: each function a process of
// its binary (built by TestMain) as its own ServiceAccount, behind an activator at
// f.stack.FunctionURLs[name]. sinkCopies > 1 delivers every source event that many times.
func newFixture(t *testing.T, sinkCopies int) *fixture {
	return newFixtureWith(t, sinkCopies, nil)
}

// newFixtureWith is newFixture with the stack's options adjusted by adjust.
func newFixtureWith(t *testing.T, sinkCopies int, adjust func(*localstack.Options)) *fixture {
	f := newBareFixture(t)
	ctx, ns, cp := f.ctx, f.ns, f.cp
	opts := localstack.Options{
		Config: cp.RESTConfig(), RepoRoot: repoRoot, Namespace: ns, FunctionsDir: functionsDir,
		Pod: validationpod.Options{RunnerImage: testRunnerImage},
	}
	if adjust != nil {
		adjust(&opts)
	}
	var dup *duplicator
	if sinkCopies > 1 {
		dup = &duplicator{copies: sinkCopies}
		srv := httptest.NewServer(dup)
		t.Cleanup(srv.Close)
		opts.SinkURL = srv.URL
	}
	stack, err := localstack.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if dup != nil {
		dup.target.Store(&stack.BrokerURL)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := stack.Stop(stopCtx); err != nil {
			t.Errorf("stack stop: %v", err)
		}
		if dl := stack.Broker.DeadLetters(); len(dl) > 0 {
			for _, d := range dl {
				t.Errorf("dead letter for %s: event %s %s: %s", d.Trigger, d.Event.Type(), d.Event.Subject(), d.Reason)
			}
		}
	})
	f.stack = stack
	return f
}

// duplicator forwards every event it receives copies times, concurrently, to the broker: the
// at-least-once delivery a real broker may produce.
type duplicator struct {
	copies int
	target atomic.Pointer[string]
}

func (d *duplicator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	target := d.target.Load()
	if target == nil {
		http.Error(w, "broker not ready", http.StatusServiceUnavailable)
		return
	}
	var wg sync.WaitGroup
	status := make([]int, d.copies)
	for i := range d.copies {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, *target, bytes.NewReader(body))
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				status[i] = http.StatusBadGateway
				return
			}
			resp.Body.Close()
			status[i] = resp.StatusCode
		})
	}
	wg.Wait()
	w.WriteHeader(status[0])
}

// createAs creates job name, a sample job changed by mutate, through client (a user's).
func (f *fixture) createAs(client dynamic.ResourceInterface, name string, mutate func(*v1alpha1.NotebookValidationJob)) error {
	f.t.Helper()
	job := &v1alpha1.NotebookValidationJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook:  v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "https://git.example.com/ml/notebooks.git", Ref: "main"}, Path: "nb/train.ipynb"},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "quay.io/jupyter/minimal-notebook:latest"},
			Timeout:   "10m",
		},
	}
	if mutate != nil {
		mutate(job)
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(job)
	if err != nil {
		f.t.Fatal(err)
	}
	_, err = client.Create(f.ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	return err
}

func (f *fixture) createJob(name string, mutate func(*v1alpha1.NotebookValidationJob)) *v1alpha1.NotebookValidationJob {
	f.t.Helper()
	if err := f.createAs(f.jobsClient(), name, mutate); err != nil {
		f.t.Fatalf("create job %s: %v", name, err)
	}
	got, err := f.store.Get(f.ctx, f.ns, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

func (f *fixture) jobsClient() dynamic.ResourceInterface {
	c, err := dynamic.NewForConfig(f.cp.RESTConfig())
	if err != nil {
		f.t.Fatal(err)
	}
	return c.Resource(v1alpha1.GroupVersionResource).Namespace(f.ns)
}

// waitJob waits until cond holds for the job, failing with its last status otherwise.
func (f *fixture) waitJob(name, what string, cond func(*v1alpha1.NotebookValidationJob) bool) *v1alpha1.NotebookValidationJob {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last *v1alpha1.NotebookValidationJob
	for time.Now().Before(deadline) {
		job, err := f.store.Get(f.ctx, f.ns, name)
		if err == nil {
			last = job
			if cond(job) {
				return job
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Fatalf("job %s never reached %s; last status: %+v", name, what, last.Status)
	return nil
}

func phaseIs(phase string) func(*v1alpha1.NotebookValidationJob) bool {
	return func(j *v1alpha1.NotebookValidationJob) bool { return j.Status.Phase == phase }
}

// completePod plays the kubelet: the runner wrote s to the notebook container's termination
// message and exited with exitCode.
func (f *fixture) completePod(name string, exitCode int32, s summary.Summary) {
	f.t.Helper()
	msg, err := summary.Encode(s, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	phase := corev1.PodSucceeded
	if exitCode != 0 {
		phase = corev1.PodFailed
	}
	f.finishPod(name, exitCode, phase, string(msg))
}

// watchWrites counts the job's writes (MODIFIED events) until stop is called.
func (f *fixture) watchWrites(name string) (stop func() []string) {
	f.t.Helper()
	w, err := f.jobsClient().Watch(f.ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		f.t.Fatal(err)
	}
	var mu sync.Mutex
	var phases []string
	var lastSeen string // resourceVersion of the last event the watch delivered
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			obj, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			mu.Lock()
			lastSeen = obj.GetResourceVersion()
			if ev.Type == watch.Modified {
				phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
				phases = append(phases, phase)
			}
			mu.Unlock()
		}
	}()
	return func() []string {
		// The caller has just read the job's last write (a GET can see it before the watch
		// delivers it): wait until the watch has delivered it too. A job already deleted has
		// nothing left to wait for.
		current := ""
		if job, err := f.store.Get(f.ctx, f.ns, name); err == nil {
			current = job.ResourceVersion
		}
		deadline := time.Now().Add(10 * time.Second)
		for current != "" {
			mu.Lock()
			caughtUp := lastSeen == current
			mu.Unlock()
			if caughtUp || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), phases...)
	}
}

func (f *fixture) podsOf(job string) []corev1.Pod {
	f.t.Helper()
	pods, err := f.kube.CoreV1().Pods(f.ns).List(f.ctx, metav1.ListOptions{LabelSelector: v1alpha1.LabelJob + "=" + job})
	if err != nil {
		f.t.Fatal(err)
	}
	return pods.Items
}

func passedSummary() summary.Summary {
	return summary.Summary{Result: summary.ResultPassed, Reason: summary.ReasonPassed, Message: "all 2 code cells passed",
		DurationMs: 1500, Cells: summary.Counts{Total: 2, Passed: 2},
		Results: []summary.Cell{{Index: 0, Status: summary.CellSuccess, DurationMs: 700}, {Index: 1, Status: summary.CellSuccess, DurationMs: 800}}}
}

func failedSummary() summary.Summary {
	fail := summary.Cell{Index: 3, Status: summary.CellFailure, DurationMs: 20, Error: "ZeroDivisionError: division by zero"}
	return summary.Summary{Result: summary.ResultFailed, Reason: summary.ReasonCellFailed, Message: "cell 3 failed: ZeroDivisionError: division by zero",
		Cells: summary.Counts{Total: 3, Passed: 1, Failed: 1, Skipped: 1}, FirstFailure: &fail,
		Results: []summary.Cell{{Index: 1, Status: summary.CellSuccess}, fail, {Index: 4, Status: summary.CellSkipped}}}
}

// TestJobSucceedsEndToEnd: create the job; job-created moves it to ValidationRunning with one
// pod; the kubelet reports the runner's summary; pod-completed moves it to Succeeded.
func TestJobSucceedsEndToEnd(t *testing.T) {
	f := newFixture(t, 1)
	f.createJob("passing", nil)
	job := f.waitJob("passing", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	pods := f.podsOf("passing")
	if len(pods) != 1 || pods[0].Name != job.Status.ValidationPodName {
		t.Fatalf("pods = %d (%v), want exactly the pod %s", len(pods), podNames(pods), job.Status.ValidationPodName)
	}
	if !metav1.IsControlledBy(&pods[0], job) {
		t.Errorf("pod %s is not controlled by the job", pods[0].Name)
	}
	if got := pods[0].Spec.InitContainers[0].Image; got != testRunnerImage {
		t.Errorf("prepare image = %q, want the configured runner image", got)
	}
	f.completePod(pods[0].Name, 0, passedSummary())
	job = f.waitJob("passing", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
	if len(job.Status.Results) != 2 || job.Status.Results[1].ExecutionTime == nil || job.Status.Results[1].ExecutionTime.Duration != 800*time.Millisecond {
		t.Errorf("results = %+v, want 2 cells with the runner's timings", job.Status.Results)
	}
	if job.Status.CompletionTime == nil || job.Status.StartTime == nil {
		t.Errorf("start/completion times not set: %+v", job.Status)
	}
	for _, c := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionValidationComplete} {
		if cond := findCondition(job, c); cond == nil || cond.Status != metav1.ConditionTrue {
			t.Errorf("condition %s = %+v, want True", c, cond)
		}
	}
	f.expectEvents(job, "NotebookSucceeded")
}

// TestJobFailsNamingTheCell: a notebook that fails is a result: Failed, the cell named, no retry.
func TestJobFailsNamingTheCell(t *testing.T) {
	f := newFixture(t, 1)
	f.createJob("failing", nil)
	job := f.waitJob("failing", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	f.completePod(job.Status.ValidationPodName, 1, failedSummary())
	job = f.waitJob("failing", "Failed", phaseIs(v1alpha1.PhaseFailed))
	if !strings.Contains(job.Status.Message, "cell 3") || !strings.Contains(job.Status.Message, "ZeroDivisionError") {
		t.Errorf("message %q does not name the failing cell and its error", job.Status.Message)
	}
	if job.Status.RetryCount != 0 || len(f.podsOf("failing")) != 1 {
		t.Errorf("a failing notebook was retried: retryCount %d, pods %v", job.Status.RetryCount, podNames(f.podsOf("failing")))
	}
	if cond := findCondition(job, v1alpha1.ConditionReady); cond == nil || cond.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v, want False", cond)
	}
}

// TestDuplicateDeliveriesWriteOnce: every event reaches the broker 5 times at once; the job
// still gets exactly one pod and one write per transition.
func TestDuplicateDeliveriesWriteOnce(t *testing.T) {
	f := newFixture(t, 5)
	stop := f.watchWrites("dup")
	f.createJob("dup", nil)
	job := f.waitJob("dup", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	f.completePod(job.Status.ValidationPodName, 0, passedSummary())
	f.waitJob("dup", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
	// Let redeliveries of the last events land before counting.
	time.Sleep(2 * time.Second)
	writes := stop()
	want := []string{v1alpha1.PhaseInitializing, v1alpha1.PhaseValidationRunning, v1alpha1.PhaseSucceeded}
	if strings.Join(writes, ",") != strings.Join(want, ",") {
		t.Errorf("writes = %v, want exactly one per transition %v", writes, want)
	}
	if pods := f.podsOf("dup"); len(pods) != 1 {
		t.Errorf("pods = %v, want exactly one", podNames(pods))
	}
}

// TestLateEventChangesNothing: an event about a job that already finished is a no-op.
func TestLateEventChangesNothing(t *testing.T) {
	f := newFixture(t, 1)
	f.createJob("late", nil)
	job := f.waitJob("late", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	f.completePod(job.Status.ValidationPodName, 0, passedSummary())
	done := f.waitJob("late", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))

	late := map[string]cloudevents.Event{
		"job-created":   resourceEvent(f.ns, v1alpha1.SchemeGroupVersion.String(), v1alpha1.Kind, "late", ""),
		"pod-completed": resourceEvent(f.ns, "v1", "Pod", job.Status.ValidationPodName, "late"),
	}
	for fn, ev := range late {
		status := postEvent(t, f.stack.FunctionURLs[fn], ev)
		if status != http.StatusAccepted {
			t.Errorf("%s answered %d to a late event, want 202 (done, nothing to reply)", fn, status)
		}
	}
	after, err := f.store.Get(f.ctx, f.ns, "late")
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != done.ResourceVersion {
		t.Errorf("late events wrote the job: resourceVersion %s -> %s", done.ResourceVersion, after.ResourceVersion)
	}
}

// TestRacingFunctionsMakeOneTransition: several replicas handle the same job at once; the
// resourceVersion guard lets one write win, the others re-read and find nothing to do.
func TestRacingFunctionsMakeOneTransition(t *testing.T) {
	// No stack: only the replicas below act on the job.
	f := newBareFixture(t)
	ns := f.ns
	created := f.createJob("race", nil)
	stop := f.watchWrites("race")

	const replicas = 4
	settings := functionenv.Settings{Kube: f.cp.RESTConfig(), Pod: validationpod.Options{RunnerImage: testRunnerImage}}
	var stores []*jobstore.Store
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for round := 0; round < 2; round++ { // "" -> Initializing, then Initializing -> ValidationRunning
		for i := range replicas {
			x, store, err := functionenv.NewExecutor(fmt.Sprintf("job-created-%d", i), settings, nil)
			if err != nil {
				t.Fatal(err)
			}
			stores = append(stores, store)
			wg.Go(func() {
				_, errs[i] = x.Step(f.ctx, ns, "race", func(context.Context, *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
					return statemachine.Observation{Kind: statemachine.JobSeen}, nil
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d replica %d: %v", round, i, err)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	writes := stop()
	if want := []string{v1alpha1.PhaseInitializing, v1alpha1.PhaseValidationRunning}; strings.Join(writes, ",") != strings.Join(want, ",") {
		t.Errorf("writes = %v, want %v", writes, want)
	}
	if pods := f.podsOf("race"); len(pods) != 1 {
		t.Errorf("pods = %v, want one", podNames(pods))
	}
	job, err := f.store.Get(f.ctx, ns, "race")
	if err != nil {
		t.Fatal(err)
	}
	if job.UID != created.UID || job.Status.ValidationPodName != statemachine.PodName(job, 0) {
		t.Errorf("job status %+v is not the one consistent transition", job.Status)
	}
}

// TestAPICallsPerTransition measures the API requests each kind of step costs, each step woken
// by the event the source would send: the object as the API server had it. Before the events
// carried their object into the decision (and the pod was read alongside the job), a no-build
// job cost 3 + 4 + 1 + 1 (job-created) + 2 per pod update + 4 (pod-completed). Tracing is on
// (in memory): its spans, the pod's TRACEPARENT and the job's root span cost no request.
func TestAPICallsPerTransition(t *testing.T) {
	spans := tracingtest.Record(t)
	f := newBareFixture(t)
	ns := f.ns
	callsJob := f.createJob("calls", nil)
	settings := functionenv.Settings{Kube: f.cp.RESTConfig(), Pod: validationpod.Options{RunnerImage: testRunnerImage}}
	x, store, err := functionenv.NewExecutor("job-created", settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := jobcreated.Handler(x)
	steps := []struct {
		name string
		want int64
	}{
		// Accepted from the event's copy, checked by the write (no Event), then started from the
		// API server's answer to it.
		{"\"\" -> Initializing -> ValidationRunning (patch status; create pod, patch status, event)", 4},
		{"ValidationRunning, nothing to do (none)", 0},
	}
	for _, s := range steps {
		// The job as the API server serves it, as an ApiServerSource sends it (a typed round
		// trip would add an empty status, and the copy would not be the job stored).
		stored, err := f.jobsClient().Get(f.ctx, "calls", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ev := f.objectEvent(stored)
		before := store.Calls()
		if _, err := h(f.ctx, ev); err != nil {
			t.Fatal(err)
		}
		got := store.Calls() - before
		t.Logf("API calls for %s: %d", s.name, got)
		if got != s.want {
			t.Errorf("%s took %d API calls, want %d", s.name, got, s.want)
		}
	}

	// pod-completed: the runner's summary travels on the pod, so no call beyond the pod itself.
	px, pstore, err := functionenv.NewExecutor("pod-completed", settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	podName := statemachine.PodName(callsJob, 0)
	pc := podcompleted.Handler(px, pstore)
	podSteps := []struct {
		name    string
		kubelet func()
		want    int64
	}{
		{"a pod running, nothing to do (none)", func() { f.runPod(podName) }, 0},
		{"ValidationRunning -> Succeeded (get job and pod at once, notification event, patch status, event)",
			func() { f.completePod(podName, 0, passedSummary()) }, 5},
	}
	for _, s := range podSteps {
		s.kubelet()
		pod, err := f.kube.CoreV1().Pods(ns).Get(f.ctx, podName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before := pstore.Calls()
		if _, err := pc(f.ctx, f.objectEvent(pod)); err != nil {
			t.Fatal(err)
		}
		got := pstore.Calls() - before
		t.Logf("API calls for %s: %d", s.name, got)
		if got != s.want {
			t.Errorf("pod-completed: %s took %d API calls, want %d", s.name, got, s.want)
		}
	}
	if job := f.jobNow("calls"); job.Status.Phase != v1alpha1.PhaseSucceeded {
		t.Errorf("job after the steps: %s, want Succeeded", job.Status.Phase)
	}
	if w, r := len(tracingtest.Named(spans, tracing.SpanWrite)), len(tracingtest.Named(spans, tracing.SpanJob)); w != 3 || r != 1 {
		t.Errorf("traced %d writes and %d root spans, want 3 and 1", w, r)
	}
}

// objectEvent is the update event an ApiServerSource (mode Resource) sends about obj (a job,
// pod or build child as read from the API server): its data is the object itself.
func (f *fixture) objectEvent(obj runtime.Object) cloudevents.Event {
	f.t.Helper()
	o, ok := obj.DeepCopyObject().(*unstructured.Unstructured)
	if !ok {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			f.t.Fatal(err)
		}
		o = &unstructured.Unstructured{Object: u}
	}
	switch obj.(type) {
	case *v1alpha1.NotebookValidationJob:
		o.SetAPIVersion(v1alpha1.SchemeGroupVersion.String())
		o.SetKind(v1alpha1.Kind)
	case *corev1.Pod:
		o.SetAPIVersion("v1")
		o.SetKind("Pod")
	}
	ev := resourceEvent(o.GetNamespace(), o.GetAPIVersion(), o.GetKind(), o.GetName(), "")
	ev.SetID("event-" + o.GetName() + "-" + o.GetResourceVersion())
	if err := ev.SetData(cloudevents.ApplicationJSON, o.Object); err != nil {
		f.t.Fatal(err)
	}
	return ev
}

// eventsUntil lists the Events of namespace ns that fieldSelector selects until ok accepts
// them or 10 s passed, and returns the last list: a transition's Event is recorded after the
// function answered, so a test that has just seen the status may have to wait a moment for it.
func eventsUntil(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, fieldSelector string, ok func([]corev1.Event) bool) []corev1.Event {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		list, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fieldSelector})
		if err != nil {
			t.Fatal(err)
		}
		if ok(list.Items) || time.Now().After(deadline) {
			return list.Items
		}
	}
}

func (f *fixture) expectEvents(job *v1alpha1.NotebookValidationJob, reasons ...string) {
	f.t.Helper()
	// A transition's Event is recorded right after its status write, so a test that has just
	// seen the write may have to wait a moment for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := f.kube.CoreV1().Events(f.ns).List(f.ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(job.UID)})
		if err != nil {
			f.t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range list.Items {
			seen[e.Reason] = true
		}
		var missing []string
		for _, r := range reasons {
			if !seen[r] {
				missing = append(missing, r)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Errorf("no Kubernetes Event with reason %v on the job (have %v)", missing, seen)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// resourceEvent is the update event an ApiServerSource (mode Resource) sends about an object;
// job, when set, is the object's job label.
func resourceEvent(ns, apiVersion, kind, name, job string) cloudevents.Event {
	return events.NewResourceUpdate("hint-"+ns+"-"+kind+"-"+name, "https://apiserver.test", ns, apiVersion, kind, name, job)
}

func postEvent(t *testing.T, url string, ev cloudevents.Event) int {
	t.Helper()
	c, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(url))
	if err != nil {
		t.Fatal(err)
	}
	var httpResult *cehttp.Result
	if res := c.Send(context.Background(), ev); cloudevents.ResultAs(res, &httpResult) {
		return httpResult.StatusCode
	}
	return 0
}

func findCondition(job *v1alpha1.NotebookValidationJob, t string) *metav1.Condition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == t {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}

// TestEvictedPodIsReplaced: an infrastructure failure gets a new pod named -<attempt>; its
// success then completes the job.
func TestEvictedPodIsReplaced(t *testing.T) {
	f := newFixture(t, 1)
	// A private repository's job: its replacement pod mounts the Secret again, so pod-completed
	// checks again that the job's author may use it.
	f.createJob("evicted", func(j *v1alpha1.NotebookValidationJob) { j.Spec.Notebook.Git.CredentialsSecret = "git-credentials" })
	job := f.waitJob("evicted", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	first := job.Status.ValidationPodName
	pod, err := f.kube.CoreV1().Pods(f.ns).Get(f.ctx, first, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase, pod.Status.Reason = corev1.PodFailed, "Evicted"
	pod.Status.Message = "The node was low on resource: memory."
	if _, err := f.kube.CoreV1().Pods(f.ns).UpdateStatus(f.ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	job = f.waitJob("evicted", "a replacement pod", func(j *v1alpha1.NotebookValidationJob) bool { return j.Status.RetryCount == 1 })
	second := job.Status.ValidationPodName
	if second != statemachine.PodName(job, 1) || job.Status.Phase != v1alpha1.PhaseValidationRunning {
		t.Fatalf("after eviction: phase %s pod %s, want ValidationRunning in %s", job.Status.Phase, second, statemachine.PodName(job, 1))
	}
	if !strings.Contains(job.Status.Message, "Evicted") && !strings.Contains(strings.ToLower(job.Status.Message), "evict") {
		t.Errorf("message %q does not say the pod was evicted", job.Status.Message)
	}
	if pods := f.podsOf("evicted"); len(pods) != 2 {
		t.Errorf("pods = %v, want the evicted one and its replacement", podNames(pods))
	}
	f.completePod(second, 0, passedSummary())
	f.waitJob("evicted", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
}

// TestUnbuildablePodFailsTheJob: a spec the API server accepts but that cannot make a valid
// pod (a quantity that does not parse) fails the job with the field named, instead of the
// event being retried forever.
func TestUnbuildablePodFailsTheJob(t *testing.T) {
	f := newFixture(t, 1)
	f.createJob("bad-quantity", func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.Resources = &v1alpha1.ResourceRequirements{Limits: map[string]string{"memory": "4 GB"}}
	})
	job := f.waitJob("bad-quantity", "Failed", phaseIs(v1alpha1.PhaseFailed))
	if !strings.Contains(job.Status.Message, `resources.limits["memory"]`) || !strings.Contains(job.Status.Message, "4 GB") {
		t.Errorf("message %q does not name the bad field and value", job.Status.Message)
	}
	if pods := f.podsOf("bad-quantity"); len(pods) != 0 {
		t.Errorf("pods = %v, want none", podNames(pods))
	}
	if cond := findCondition(job, v1alpha1.ConditionReady); cond == nil || cond.Reason != statemachine.ReasonPodStartFailed {
		t.Errorf("Ready = %+v, want reason %s", cond, statemachine.ReasonPodStartFailed)
	}
}
