package integration

import (
	"fmt"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// TestBuildRunningThenSucceededNoConflict: Tekton writes a PipelineRun running, then
// succeeded, in quick succession. Both updates reach build-status-changed together (held by
// the activator while the process starts, and delivered again here side by side, each with the
// object its update wrote). The job must end in BuildComplete with no 409 from the API server:
// the running build writes nothing the job does not show, so whichever process each event
// reaches, only the success writes (TestBuildProgressWritesOnlyWhatTheJobDoesNotShow).
func TestBuildRunningThenSucceededNoConflict(t *testing.T) {
	cp := requireControlPlane(t)
	bs := buildSystems[0]
	f := newFixture(t, 1)
	offset, err := cp.AuditOffset()
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 3
	url := f.stack.FunctionURLs["build-status-changed"]
	for i := range rounds {
		name := fmt.Sprintf("quick-%d", i)
		job := f.startBuild(bs, name)
		c := f.dynamic().Resource(bs.child.GVR).Namespace(f.ns)
		child, err := c.Get(f.ctx, statemachine.BuildName(job), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var written []*unstructured.Unstructured
		for _, state := range []string{"running", "succeeded"} {
			child.Object["status"] = bs.status(state, "registry.example.com/"+f.ns+"/"+name+":v1")
			if child, err = c.UpdateStatus(f.ctx, child, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("build controller: %s: %v", state, err)
			}
			written = append(written, child.DeepCopy())
		}
		var wg sync.WaitGroup
		for _, obj := range written {
			wg.Go(func() {
				if status := postEvent(t, url, childEvent(obj)); status >= 300 {
					t.Errorf("%s event answered %d", obj.GetResourceVersion(), status)
				}
			})
		}
		wg.Wait()
		f.waitJob(name, "BuildComplete or later", func(j *v1alpha1.NotebookValidationJob) bool {
			return j.Status.Phase == v1alpha1.PhaseBuildComplete || j.Status.Phase == v1alpha1.PhaseValidationRunning
		})
	}
	// The source's own events for the last updates still reach the function: let them be answered.
	time.Sleep(time.Second)
	if got := countRequests(t, cp, offset, f.ns); got.conflicts != 0 {
		t.Errorf("%d requests answered 409 for %d builds updated running then succeeded, want none", got.conflicts, rounds)
	}
}

// childEvent is the ApiServerSource update event of obj (a job, or its build child).
func childEvent(obj *unstructured.Unstructured) cloudevents.Event {
	ev := cloudevents.NewEvent()
	ev.SetID("update-" + obj.GetName() + "-" + obj.GetResourceVersion())
	ev.SetType(events.TypeResourceUpdate)
	ev.SetSource("https://apiserver.test")
	ev.SetExtension(events.ExtKind, obj.GetKind())
	ev.SetExtension(events.ExtAPIVersion, obj.GetAPIVersion())
	ev.SetExtension(events.ExtName, obj.GetName())
	ev.SetExtension(events.ExtNamespace, obj.GetNamespace())
	_ = ev.SetData(cloudevents.ApplicationJSON, obj.Object)
	return ev
}
