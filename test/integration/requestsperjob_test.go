package integration

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// eventFunctions are the ServiceAccounts of the functions woken by source events; the sweep
// is left out (its ticks are not part of a job's path on a quiet cluster).
var eventFunctions = map[string]bool{
	"system:serviceaccount:nbv-system:nbv-job-created":          true,
	"system:serviceaccount:nbv-system:nbv-build-status-changed": true,
	"system:serviceaccount:nbv-system:nbv-pod-completed":        true,
}

// TestRequestsPerJob runs one job through the whole stack on a quiet cluster, the test playing
// the build system (which updates a child at once, as Tekton's controller does) and the
// kubelet (which reports the pod running, then finished), and counts from the API server's
// audit log every request the event functions made for it, Kubernetes Events included: no
// 409, exactly one status write per transition, and no more requests than each transition's
// reads, write, Event and children need. Per transition: a status write, and an Event unless
// the job was only accepted (Initialized) or its image was built (BuildComplete, which
// job-created takes over at once); a read of the job, except when job-created decides from the
// event's own copy (the write checks the copy) or starts the job it just accepted from the API
// server's answer; a read of the child whose event changes the job (build, pod); the children
// created; and one notification Event when the job ends. A build's running and the event of
// the accepting write change nothing: the first costs a read of the job, the second nothing.
// Before events carried their object into the decision, the same jobs cost 18, 32 and 34
// requests, with one 409 each; before the copy and the remembered answer were used and the
// quiet transitions' Events dropped, 11, 23 and 25; before a build's running was left
// unwritten, 9, 18 and 20.
func TestRequestsPerJob(t *testing.T) {
	cases := []struct {
		name        string
		build       *buildSystem
		max         int
		transitions int
	}{
		// 3 writes + 3 Events + 1 job read (pod-completed's) + 1 pod read + 1 pod create.
		{"no-build", nil, 9, 3},
		// 5 writes + 4 Events + 4 job reads (build running, build succeeded, build complete ->
		// pod, pod ended) + 1 PipelineRun read + 1 pod read + 2 creates.
		{"tekton", &buildSystems[0], 17, 5},
		// As tekton, creating an ImageStream, a BuildConfig and a Build instead of a PipelineRun.
		{"s2i", &buildSystems[1], 19, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp := requireControlPlane(t)
			f := newFixture(t, 1)
			offset, err := cp.AuditOffset()
			if err != nil {
				t.Fatal(err)
			}
			const name = "counted"
			if c.build == nil {
				f.createJob(name, nil)
			} else {
				f.createJob(name, buildJob(c.build.strategy))
				f.playBuildSystem(*c.build, name)
			}
			job := f.waitJob(name, "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
			f.runPod(job.Status.ValidationPodName)
			f.completePod(job.Status.ValidationPodName, 0, passedSummary())
			f.waitJob(name, "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
			// The last write's own event still reaches job-created: let it be answered.
			time.Sleep(time.Second)

			got := countRequests(t, cp, offset, f.ns)
			t.Logf("%s job: %d requests (%s); %d status writes, %d conflicts", c.name, got.total, got.describe(), got.statusWrites, got.conflicts)
			if got.conflicts != 0 {
				t.Errorf("%d writes refused (409, or 422 to a write from an event's copy), want none", got.conflicts)
			}
			if got.statusWrites != c.transitions {
				t.Errorf("%d status writes, want one per transition: %d", got.statusWrites, c.transitions)
			}
			if got.total > c.max {
				t.Errorf("%d requests for one %s job, want at most %d", got.total, c.name, c.max)
			}
		})
	}
}

// TestForgedJobCopyWritesNothing: job-created decides a plain status write from the job as
// the event carried it, with no read before; the write holds only if the API server has that
// very copy. A copy that carries the job's current resourceVersion but not its content (a
// forged event: a job that is validating, shown as just created) is refused by the API
// server, writes nothing, and the job read fresh decides: nothing to do.
func TestForgedJobCopyWritesNothing(t *testing.T) {
	cp := requireControlPlane(t)
	f := newFixture(t, 1)
	const name = "forged"
	f.createJob(name, nil)
	f.waitJob(name, "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	// A version of the job no function wrote (job-created remembers its own answers).
	labelled, err := f.jobsClient().Patch(f.ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"a"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job, err := f.store.Get(f.ctx, f.ns, name)
	if err != nil || job.ResourceVersion != labelled.GetResourceVersion() {
		t.Fatalf("job after labelling: %v, %v", job, err)
	}
	time.Sleep(500 * time.Millisecond) // the events of the job's writes are answered
	offset, err := cp.AuditOffset()
	if err != nil {
		t.Fatal(err)
	}
	forged := job.DeepCopy()
	forged.Status = v1alpha1.NotebookValidationJobStatus{}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(forged)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion(v1alpha1.SchemeGroupVersion.String())
	u.SetKind(v1alpha1.Kind)
	if status, answer := postEventAnswer(t, f.stack.FunctionURLs["job-created"], childEvent(u)); status >= 300 {
		t.Errorf("forged job event answered %d (%s), want 2xx (nothing to do)", status, answer)
	}
	after, err := f.store.Get(f.ctx, f.ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != job.ResourceVersion || after.Status.Phase != v1alpha1.PhaseValidationRunning {
		t.Errorf("after a forged copy the job is %s at resourceVersion %s, want %s at %s, unchanged",
			after.Status.Phase, after.ResourceVersion, v1alpha1.PhaseValidationRunning, job.ResourceVersion)
	}
	got := countRequests(t, cp, offset, f.ns)
	t.Logf("forged copy: %d requests (%s)", got.total, got.describe())
	if got.byKind["patch notebookvalidationjobs/status"] != 1 || got.conflicts != 1 || got.byKind["get notebookvalidationjobs"] != 1 || got.total != 2 {
		t.Errorf("requests %s (%d refused), want the refused write and one read", got.describe(), got.conflicts)
	}
}

// playBuildSystem waits for the job's build child and, as soon as it exists, marks it
// running (Tekton's controller updates a new PipelineRun at once), then succeeded once
// build-status-changed answered the running build's event.
func (f *fixture) playBuildSystem(bs buildSystem, job string) {
	f.t.Helper()
	building := f.waitJob(job, "Building", func(j *v1alpha1.NotebookValidationJob) bool {
		return j.Status.BuildStatus != nil && j.Status.BuildStatus.BuildName != ""
	})
	c := f.dynamic().Resource(bs.child.GVR).Namespace(f.ns)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.Get(f.ctx, statemachine.BuildName(building), metav1.GetOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no %s for job %s", bs.child.Kind, job)
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.buildUpdatesAnswered(bs, job, "running")
	f.setBuildStatus(bs, job, "succeeded")
}

// runPod plays the kubelet starting the pod: both containers started, the pod Running.
func (f *fixture) runPod(name string) {
	f.t.Helper()
	pod, err := f.kube.CoreV1().Pods(f.ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &now
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: validationpod.PrepareContainer, Ready: true,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}}}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: validationpod.NotebookContainer, Ready: true, Started: new(true),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
	if _, err := f.kube.CoreV1().Pods(f.ns).UpdateStatus(f.ctx, pod, metav1.UpdateOptions{}); err != nil {
		f.t.Fatalf("kubelet: update pod %s status: %v", name, err)
	}
}

// requestCount is what the audit log says the event functions asked of the API server.
type requestCount struct {
	total, statusWrites, conflicts int
	byKind                         map[string]int // "verb resource[/subresource]"
}

func (r requestCount) describe() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.byKind)) {
		parts = append(parts, fmt.Sprintf("%d %s", r.byKind[k], k))
	}
	return strings.Join(parts, ", ")
}

// countRequests counts the event functions' requests in namespace logged after offset.
func countRequests(t *testing.T, cp *controlplane.ControlPlane, offset int64, namespace string) requestCount {
	t.Helper()
	events, err := cp.ReadAudit(offset)
	if err != nil {
		t.Fatal(err)
	}
	r := requestCount{byKind: map[string]int{}}
	for _, e := range events {
		if !eventFunctions[e.User.Username] || e.ObjectRef == nil || e.ObjectRef.Namespace != namespace {
			continue
		}
		r.total++
		resource := e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			resource += "/" + e.ObjectRef.Subresource
		}
		r.byKind[e.Verb+" "+resource]++
		if e.ResponseStatus != nil && e.ResponseStatus.Code == 409 || e.CopyRefused() {
			r.conflicts++
			t.Logf("refused (%d): %s %s %s at %s", e.ResponseStatus.Code, e.User.Username, e.Verb, e.RequestURI, e.StageTimestamp)
		} else if e.ObjectRef.Resource == v1alpha1.Resource && e.ObjectRef.Subresource == "status" {
			r.statusWrites++
		}
	}
	return r
}
