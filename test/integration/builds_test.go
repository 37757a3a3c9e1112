package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/buildstatus"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/jobcreated"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

const buildDigest = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

// buildSystem is what the test plays for each strategy: the Tekton or the OpenShift build
// controller, writing the child's status the way that controller does.
type buildSystem struct {
	strategy string
	child    childapi.Resource
	// status returns the child's status for a state: "running", "succeeded" (image built as
	// image), "failed", "cancelled", "timedout".
	status func(state, image string) map[string]any
}

var buildSystems = []buildSystem{
	{v1alpha1.BuildStrategyTekton, childapi.PipelineRuns, tektonStatus},
	{v1alpha1.BuildStrategyS2I, childapi.Builds, openshiftStatus},
}

func tektonStatus(state, image string) map[string]any {
	cond := func(status, reason, message string) map[string]any {
		st := map[string]any{"startTime": "2026-01-02T03:04:05Z", "conditions": []any{map[string]any{
			"type": "Succeeded", "status": status, "reason": reason, "message": message, "lastTransitionTime": "2026-01-02T03:05:00Z"}}}
		if status != "Unknown" {
			st["completionTime"] = "2026-01-02T03:06:35Z"
		}
		return st
	}
	switch state {
	case "running":
		return cond("Unknown", "Running", "Tasks Completed: 0 (Failed: 0, Cancelled 0), Skipped: 0")
	case "running-later":
		return cond("Unknown", "Running", "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0")
	case "held":
		st := cond("Unknown", "PipelineRunPending", "PipelineRun \"nb-build\" is pending")
		delete(st, "startTime")
		return st
	case "succeeded":
		st := cond("True", "Succeeded", "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0")
		st["results"] = []any{
			map[string]any{"name": "IMAGE_URL", "value": image},
			map[string]any{"name": "IMAGE_DIGEST", "value": buildDigest},
		}
		return st
	case "failed":
		return cond("False", "Failed", "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0")
	case "cancelled":
		return cond("False", "Cancelled", "PipelineRun \"nb-build\" was cancelled")
	case "timedout":
		return cond("False", "PipelineRunTimeout", "PipelineRun \"nb-build\" failed to finish within \"5m0s\"")
	}
	panic("unknown build state " + state)
}

func openshiftStatus(state, image string) map[string]any {
	st := map[string]any{"startTimestamp": "2026-01-02T03:04:05Z"}
	switch state {
	case "running":
		st["phase"] = "Running"
	case "held":
		delete(st, "startTimestamp")
		st["phase"], st["reason"], st["message"] = "Pending", "CannotCreateBuildPod", "Failed creating build pod: exceeded quota"
	case "running-later":
		// OpenShift records the build's stages as they finish.
		st["phase"] = "Running"
		st["stages"] = []any{map[string]any{"name": "FetchInputs", "startTime": "2026-01-02T03:04:06Z", "durationMilliseconds": 1200}}
	case "succeeded":
		st["phase"], st["completionTimestamp"] = "Complete", "2026-01-02T03:06:35Z"
		st["outputDockerImageReference"] = image
		st["output"] = map[string]any{"to": map[string]any{"imageDigest": buildDigest}}
	case "failed":
		st["phase"], st["reason"], st["message"] = "Failed", "DockerBuildFailed", "Docker build strategy has failed."
	case "cancelled":
		st["phase"], st["reason"], st["message"] = "Cancelled", "CancelledBuild", "The build was cancelled by the user."
	case "timedout":
		st["phase"], st["reason"], st["message"] = "Failed", "DeadlineExceeded", "Build was running too long and has been terminated."
	default:
		panic("unknown build state " + state)
	}
	return st
}

func buildJob(strategy string) func(*v1alpha1.NotebookValidationJob) {
	return func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: strategy, Timeout: "5m"}
	}
}

func (f *fixture) dynamic() dynamic.Interface {
	f.t.Helper()
	c, err := dynamic.NewForConfig(f.cp.RESTConfig())
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// setBuildStatus plays the build controller: it replaces the child's status.
func (f *fixture) setBuildStatus(bs buildSystem, job, state string) {
	f.t.Helper()
	c := f.dynamic().Resource(bs.child.GVR).Namespace(f.ns)
	obj, err := c.Get(f.ctx, statemachine.BuildName(f.jobNow(job)), metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("build controller: get %s: %v", bs.child.Kind, err)
	}
	status := bs.status(state, "registry.example.com/"+f.ns+"/"+job+":v1")
	if bs.strategy == v1alpha1.BuildStrategyTekton && state == "failed" {
		status["childReferences"] = []any{map[string]any{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f.failedTaskRun(obj.GetName()), "pipelineTaskName": "build"}}
	}
	obj.Object["status"] = status
	if _, err := c.UpdateStatus(f.ctx, obj, metav1.UpdateOptions{}); err != nil {
		f.t.Fatalf("build controller: update %s status: %v", bs.child.Kind, err)
	}
}

// failedTaskRun creates the TaskRun of PipelineRun pipelineRun as Tekton leaves one whose
// build step failed (clone exited 0, build 1), and returns its name.
func (f *fixture) failedTaskRun(pipelineRun string) string {
	f.t.Helper()
	name := pipelineRun + "-build"
	c := f.dynamic().Resource(childapi.TaskRuns.GVR).Namespace(f.ns)
	tr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"taskRef": map[string]any{"name": "build"}},
	}}
	created, err := c.Create(f.ctx, tr, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatalf("build controller: create TaskRun: %v", err)
	}
	terminated := func(code int64) map[string]any {
		return map[string]any{"exitCode": code, "reason": "Error", "startedAt": "2026-01-02T03:04:05Z", "finishedAt": "2026-01-02T03:05:05Z"}
	}
	created.Object["status"] = map[string]any{
		"podName": name + "-pod",
		"steps": []any{
			map[string]any{"name": "clone", "container": "step-clone", "terminated": terminated(0)},
			map[string]any{"name": "build", "container": "step-build", "terminated": terminated(1)},
		},
	}
	if _, err := c.UpdateStatus(f.ctx, created, metav1.UpdateOptions{}); err != nil {
		f.t.Fatalf("build controller: update TaskRun status: %v", err)
	}
	return name
}

// startBuild creates a job with a build and waits until job-created made its child.
func (f *fixture) startBuild(bs buildSystem, name string) *v1alpha1.NotebookValidationJob {
	f.t.Helper()
	f.createJob(name, buildJob(bs.strategy))
	job := f.waitJob(name, "Building", phaseIs(v1alpha1.PhaseBuilding))
	child, err := f.dynamic().Resource(bs.child.GVR).Namespace(f.ns).Get(f.ctx, statemachine.BuildName(job), metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("job-created did not create the %s: %v", bs.child.Kind, err)
	}
	if !metav1.IsControlledBy(child, job) || child.GetLabels()[v1alpha1.LabelJob] != name {
		f.t.Errorf("%s %s is not the job's child (owners %v, labels %v)", bs.child.Kind, child.GetName(), child.GetOwnerReferences(), child.GetLabels())
	}
	if job.Status.BuildStatus == nil || job.Status.BuildStatus.BuildName != child.GetName() || job.Status.BuildStatus.Strategy != bs.strategy {
		f.t.Errorf("buildStatus %+v does not record the child", job.Status.BuildStatus)
	}
	return job
}

// TestBuildSucceedsThenValidates: the child reports the built image; build-status-changed
// moves the job to BuildComplete, job-created then starts validation with the pinned image.
func TestBuildSucceedsThenValidates(t *testing.T) {
	for _, bs := range buildSystems {
		t.Run(bs.strategy, func(t *testing.T) {
			f := newFixture(t, 1)
			stop := f.watchWrites("built")
			f.startBuild(bs, "built")
			if bs.strategy == v1alpha1.BuildStrategyS2I {
				if _, err := f.dynamic().Resource(childapi.BuildConfigs.GVR).Namespace(f.ns).Get(f.ctx, statemachine.BuildName(f.jobNow("built")), metav1.GetOptions{}); err != nil {
					t.Errorf("no BuildConfig for re-runs: %v", err)
				}
			}
			f.setBuildStatus(bs, "built", "succeeded")
			job := f.waitJob("built", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
			want := "registry.example.com/" + f.ns + "/built:v1@" + buildDigest
			if job.Status.BuildStatus.ImageReference != want || job.Status.BuildStatus.Phase != v1alpha1.BuildPhaseComplete {
				t.Errorf("buildStatus %+v, want Complete with image %s", job.Status.BuildStatus, want)
			}
			if job.Status.BuildStatus.Duration != "2m30s" {
				t.Errorf("build duration %q, want the build system's 2m30s", job.Status.BuildStatus.Duration)
			}
			pods := f.podsOf("built")
			if len(pods) != 1 {
				t.Fatalf("pods %v, want one validation pod", podNames(pods))
			}
			var image string
			for _, c := range pods[0].Spec.Containers {
				if c.Name == validationpod.NotebookContainer {
					image = c.Image
				}
			}
			if image != want {
				t.Errorf("notebook container image %q, want the built image pinned by digest %s", image, want)
			}
			f.completePod(pods[0].Name, 0, passedSummary())
			f.waitJob("built", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
			writes := stop()
			wantWrites := []string{v1alpha1.PhaseInitializing, v1alpha1.PhaseBuilding, v1alpha1.PhaseBuildComplete, v1alpha1.PhaseValidationRunning, v1alpha1.PhaseSucceeded}
			if strings.Join(writes, ",") != strings.Join(wantWrites, ",") {
				t.Errorf("writes %v, want one per transition %v", writes, wantWrites)
			}
			// The build's success is a hand-off with no Event of its own: ValidationStarted's
			// names the built image, the BuildReady condition the build.
			f.expectEvents(job, statemachine.ReasonBuildStarted, statemachine.ReasonValidationStarted)
		})
	}
}

// TestBuildEndsTheJob: a failed, cancelled or timed-out build fails the job with the build
// system's reason and message; no validation pod is created.
func TestBuildEndsTheJob(t *testing.T) {
	cases := []struct {
		state, reason string
		message       map[string]string // strategy -> text the job's message must contain
	}{
		{"failed", statemachine.ReasonBuildFailed, map[string]string{"tekton": `Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0; step "build" of TaskRun `, "s2i": "DockerBuildFailed"}},
		{"cancelled", statemachine.ReasonBuildCancelled, map[string]string{"tekton": "was cancelled", "s2i": "CancelledBuild"}},
		{"timedout", statemachine.ReasonBuildTimeout, map[string]string{"tekton": "PipelineRunTimeout", "s2i": "DeadlineExceeded"}},
	}
	for _, bs := range buildSystems {
		t.Run(bs.strategy, func(t *testing.T) {
			f := newFixture(t, 1)
			for _, c := range cases {
				name := "build-" + c.state
				f.startBuild(bs, name)
				f.setBuildStatus(bs, name, c.state)
				job := f.waitJob(name, "Failed", phaseIs(v1alpha1.PhaseFailed))
				if !strings.Contains(job.Status.Message, c.message[bs.strategy]) {
					t.Errorf("%s: message %q does not carry the build system's %q", c.state, job.Status.Message, c.message[bs.strategy])
				}
				if cond := findCondition(job, v1alpha1.ConditionBuildReady); cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != c.reason {
					t.Errorf("%s: BuildReady %+v, want False with reason %s", c.state, cond, c.reason)
				}
				if job.Status.BuildStatus == nil || job.Status.BuildStatus.Phase != v1alpha1.BuildPhaseFailed {
					t.Errorf("%s: buildStatus %+v, want Failed", c.state, job.Status.BuildStatus)
				}
				if pods := f.podsOf(name); len(pods) != 0 {
					t.Errorf("%s: validation pods %v after a failed build", c.state, podNames(pods))
				}
			}
		})
	}
}

// TestBuildProgressWritesOnlyWhatTheJobDoesNotShow: the child is updated several times while
// it runs. The job, whose Building says the build started, is not written for that: a write
// per running update would race the success the build system writes right after. A build held
// before it runs is written once with what it says, and once more when it runs after all.
func TestBuildProgressWritesOnlyWhatTheJobDoesNotShow(t *testing.T) {
	for _, bs := range buildSystems {
		t.Run(bs.strategy, func(t *testing.T) {
			f := newFixture(t, 1)
			f.startBuild(bs, "progress")
			answered := func(updates ...string) []string {
				t.Helper()
				stop := f.watchWrites("progress")
				f.buildUpdatesAnswered(bs, "progress", updates...)
				return stop()
			}
			if writes := answered("running", "running-later", "running", "running-later"); len(writes) != 0 {
				t.Errorf("a running build wrote the job %d times (%v), want none", len(writes), writes)
			}
			if cond := findCondition(f.jobNow("progress"), v1alpha1.ConditionBuildReady); cond == nil || cond.Reason != statemachine.ReasonBuildStarted {
				t.Errorf("BuildReady %+v, want reason %s", cond, statemachine.ReasonBuildStarted)
			}
			if writes := answered("held"); len(writes) != 1 || writes[0] != v1alpha1.PhaseBuilding {
				t.Errorf("a held build wrote %v, want one write (Building, why it is held)", writes)
			}
			held := f.jobNow("progress")
			if cond := findCondition(held, v1alpha1.ConditionBuildReady); cond == nil || cond.Reason != statemachine.ReasonBuildPending || held.Status.BuildStatus.Message == "" {
				t.Errorf("held: BuildReady %+v, buildStatus %+v; want reason %s and the build's message", cond, held.Status.BuildStatus, statemachine.ReasonBuildPending)
			}
			if writes := answered("running", "running-later"); len(writes) != 1 || writes[0] != v1alpha1.PhaseBuilding {
				t.Errorf("a held build that runs wrote %v, want one write (Building, build running)", writes)
			}
			running := f.jobNow("progress")
			if cond := findCondition(running, v1alpha1.ConditionBuildReady); cond == nil || cond.Reason != statemachine.ReasonBuildRunning || running.Status.BuildStatus.Phase != v1alpha1.BuildPhaseRunning {
				t.Errorf("running: BuildReady %+v, buildStatus %+v; want reason %s, build Running", cond, running.Status.BuildStatus, statemachine.ReasonBuildRunning)
			}
			f.setBuildStatus(bs, "progress", "succeeded")
			f.waitJob("progress", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
		})
	}
}

// buildUpdatesAnswered sets the job's build child to each state in turn and waits until
// build-status-changed has answered every update's event.
func (f *fixture) buildUpdatesAnswered(bs buildSystem, job string, states ...string) {
	f.t.Helper()
	before := f.stack.Broker.Delivered()["build-status-changed"]
	for _, s := range states {
		f.setBuildStatus(bs, job, s)
	}
	deadline := time.Now().Add(30 * time.Second)
	for f.stack.Broker.Delivered()["build-status-changed"] < before+len(states) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := f.stack.Broker.Delivered()["build-status-changed"] - before; got < len(states) {
		f.t.Fatalf("build-status-changed answered %d of %d events", got, len(states))
	}
}

// TestBuildEventHints: build-status-changed believes nothing an event says. A hint naming
// another job's child is ignored; a kind it does not handle is refused with 400; a genuine
// hint with nothing new about the child writes nothing.
func TestBuildEventHints(t *testing.T) {
	f := newFixture(t, 1)
	bs := buildSystems[0]
	owner := f.startBuild(bs, "owner")
	claimant := f.startBuild(bs, "claimant")
	url := f.stack.FunctionURLs["build-status-changed"]
	forged := resourceEvent(f.ns, "tekton.dev/v1", "PipelineRun", statemachine.BuildName(owner), "claimant")
	if status := postEvent(t, url, forged); status != http.StatusAccepted {
		t.Errorf("event naming another job's child answered %d, want 202 (ignored)", status)
	}
	taskRun := resourceEvent(f.ns, "tekton.dev/v1", "TaskRun", statemachine.BuildName(owner), "owner")
	if status := postEvent(t, url, taskRun); status != http.StatusBadRequest {
		t.Errorf("TaskRun event answered %d, want 400", status)
	}
	if after := f.jobNow("claimant"); after.ResourceVersion != claimant.ResourceVersion {
		t.Errorf("a hint about another job's child wrote job claimant: resourceVersion %s -> %s", claimant.ResourceVersion, after.ResourceVersion)
	}

	// A genuine hint about the child, which no controller has looked at yet: pending with
	// nothing to say, which the job's Building already shows. Nothing is written.
	genuine := resourceEvent(f.ns, "tekton.dev/v1", "PipelineRun", statemachine.BuildName(owner), "owner")
	for range 2 {
		if status := postEvent(t, url, genuine); status != http.StatusAccepted {
			t.Errorf("genuine event answered %d, want 202 (nothing to do)", status)
		}
	}
	if again := f.jobNow("owner"); again.ResourceVersion != owner.ResourceVersion {
		t.Errorf("a hint about a pending build wrote the job: resourceVersion %s -> %s", owner.ResourceVersion, again.ResourceVersion)
	}
}

// jobNow reads the job as it is now.
func (f *fixture) jobNow(name string) *v1alpha1.NotebookValidationJob {
	f.t.Helper()
	job, err := f.store.Get(f.ctx, f.ns, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return job
}

// TestUnservedAPIIsRecognised: the error the real API server returns for a resource it does
// not serve is the one childapi turns into "install ..." (a missing namespace is not).
func TestUnservedAPIIsRecognised(t *testing.T) {
	f := newFixture(t, 1)
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "nbv-absent.example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w"}}}
	_, err := f.dynamic().Resource(schema.GroupVersionResource{Group: "nbv-absent.example.com", Version: "v1", Resource: "widgets"}).
		Namespace(f.ns).Create(f.ctx, obj, metav1.CreateOptions{})
	if !childapi.IsNotServed(err) {
		t.Errorf("create of an unserved resource: %v (%T), not recognised as not served", err, err)
	}
	pr := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
		"metadata": map[string]any{"name": "p"}, "spec": map[string]any{}}}
	_, err = f.dynamic().Resource(childapi.PipelineRuns.GVR).Namespace("nbv-no-such-namespace").Create(f.ctx, pr, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || childapi.IsNotServed(err) {
		t.Errorf("create in a missing namespace: %v, want a NotFound that is not 'not served'", err)
	}
}

// TestAPICallsPerBuildTransition measures the API requests of each build step: job store
// requests (job, status, Event) plus build child requests (the dynamic client), each step
// woken by the event the source would send. Before the events carried their object into the
// decision, the second step read the job (3 + 1), job-created read it again after each write
// (1) and a running build's every update read the child (1 + 1).
func TestAPICallsPerBuildTransition(t *testing.T) {
	for _, bs := range buildSystems {
		t.Run(bs.strategy, func(t *testing.T) {
			f := newFixture(t, 1)
			ns := f.ns + "-calls"
			if err := f.cp.EnsureOptedInNamespace(f.ctx, ns); err != nil {
				t.Fatal(err)
			}
			f.ns = ns
			callsJob := f.createJob("calls", buildJob(bs.strategy))
			settings := functionenv.Settings{Kube: f.cp.RESTConfig(), Pod: validationpod.Options{RunnerImage: testRunnerImage}}
			builds, err := buildchild.New(settings)
			if err != nil {
				t.Fatal(err)
			}
			x, store, err := functionenv.NewExecutor("job-created", settings, builds)
			if err != nil {
				t.Fatal(err)
			}
			// The job as the API server serves it, as an ApiServerSource sends it (a typed round
			// trip would add an empty status, and the copy would not be the job stored).
			jobEvent := func() cloudevents.Event {
				stored, err := f.jobsClient().Get(f.ctx, "calls", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return f.objectEvent(stored)
			}
			childEvent := func() cloudevents.Event {
				child, err := f.dynamic().Resource(bs.child.GVR).Namespace(ns).Get(f.ctx, statemachine.BuildName(callsJob), metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return f.objectEvent(child)
			}
			created := int64(1)
			if bs.strategy == v1alpha1.BuildStrategyS2I {
				created = 3 // ImageStream, BuildConfig, then Build
			}
			jc := jobcreated.Handler(x)
			bx, bstore, err := functionenv.NewExecutor("build-status-changed", settings, builds)
			if err != nil {
				t.Fatal(err)
			}
			bsc := buildstatus.Handler(bx, builds)
			steps := []struct {
				name        string
				before      func()
				handle      func(context.Context, cloudevents.Event) (*cloudevents.Event, error)
				ev          func() cloudevents.Event
				jobs, child int64
			}{
				// Accepted from the event's copy, checked by the write (no Event), then started from
				// the API server's answer to it.
				{"job-created \"\" -> Initializing -> Building (patch status; create child; patch status, event)", nil, jc, jobEvent, 3, created},
				{"job-created Building, nothing to do (none)", nil, jc, jobEvent, 0, 0},
				// A running build is what the job's Building says: the child is not read.
				{"build-status-changed Building, build running (get job)",
					func() { f.setBuildStatus(bs, "calls", "running") }, bsc, childEvent, 1, 0},
				{"build-status-changed Building, still running (get job)",
					func() { f.setBuildStatus(bs, "calls", "running-later") }, bsc, childEvent, 1, 0},
				// A build's success records no Event.
				{"build-status-changed Building -> BuildComplete (get job; get child; patch status)",
					func() { f.setBuildStatus(bs, "calls", "succeeded") }, bsc, childEvent, 2, 1},
			}
			for _, s := range steps {
				if s.before != nil {
					s.before()
				}
				ev := s.ev()
				jobsBefore, bjobsBefore, childBefore := store.Calls(), bstore.Calls(), builds.API.Calls()
				if _, err := s.handle(f.ctx, ev); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				jobs := store.Calls() - jobsBefore + bstore.Calls() - bjobsBefore
				child := builds.API.Calls() - childBefore
				t.Logf("API calls for %s: %d job store + %d build child", s.name, jobs, child)
				if jobs != s.jobs || child != s.child {
					t.Errorf("%s took %d + %d API calls, want %d + %d", s.name, jobs, child, s.jobs, s.child)
				}
			}
			job, err := f.store.Get(f.ctx, ns, "calls")
			if err != nil || job.Status.Phase != v1alpha1.PhaseBuildComplete {
				t.Errorf("job after the steps: %v %+v, want BuildComplete", err, job)
			}
		})
	}
}
