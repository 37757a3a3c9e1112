package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/localstack"
)

// hostFunctionProcesses lists, from /proc, the processes running a binary of functionsDir, by
// binary name: what the OS says runs, independently of what the stack believes.
func hostFunctionProcesses(t *testing.T) map[string][]int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || !strings.HasPrefix(exe, functionsDir+string(os.PathSeparator)) {
			continue // gone, not ours, or not readable
		}
		name := filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
		out[name] = append(out[name], pid)
	}
	for _, pids := range out {
		slices.Sort(pids)
	}
	return out
}

func (f *fixture) stackProcesses() map[string][]int {
	out := f.stack.FunctionProcesses()
	for _, pids := range out {
		slices.Sort(pids)
	}
	return out
}

// waitNoFunctionProcess waits until neither the stack nor the OS knows a function process.
func (f *fixture) waitNoFunctionProcess(within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		host, stack := hostFunctionProcesses(f.t), f.stackProcesses()
		if len(host) == 0 && len(stack) == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("function processes still running %s later: host %v, stack %v", within, host, stack)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestScaleToZero: no function process runs before a job; the job's events start exactly the
// functions they wake, each as a process of its own binary; once the idle window has passed,
// none is left. An event posted to a function with no instance is held while one starts, then
// answered; two at once with containerConcurrency lowered to 1 (a test-only override) start a
// second instance.
func TestScaleToZero(t *testing.T) {
	const idle = 2 * time.Second
	f := newFixtureWith(t, 1, func(o *localstack.Options) {
		o.Idle = idle
		o.ConcurrencyOverride = map[string]int{"job-created": 1}
		o.PingInterval = time.Hour // no sweep wake-up during the test
	})

	if host, stack := hostFunctionProcesses(t), f.stackProcesses(); len(host) != 0 || len(stack) != 0 {
		t.Fatalf("function processes before any job: host %v, stack %v; want none", host, stack)
	}

	f.createJob("zero", nil)
	job := f.waitJob("zero", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	host, stack := hostFunctionProcesses(t), f.stackProcesses()
	if len(stack["job-created"]) == 0 || !slices.Equal(host["job-created"], stack["job-created"]) {
		t.Errorf("while the job starts: host %v, stack %v; want job-created running, the same processes in both", host, stack)
	}
	for _, idleFn := range []string{"build-status-changed", "sweep"} {
		if len(host[idleFn]) != 0 {
			t.Errorf("%s runs (%v) though no event woke it", idleFn, host[idleFn])
		}
	}

	f.completePod(job.Status.ValidationPodName, 0, passedSummary())
	f.waitJob("zero", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
	if host := hostFunctionProcesses(t); len(host["pod-completed"]) == 0 {
		t.Errorf("pod-completed answered the pod's event but no process of it runs: %v", host)
	}
	f.waitNoFunctionProcess(idle + 10*time.Second)

	// Held, not dropped: a late event for the finished job reaches a fresh instance.
	jobCreated := f.stack.Activators["job-created"]
	cold := len(jobCreated.ColdStarts())
	late := resourceEvent(f.ns, v1alpha1.SchemeGroupVersion.String(), v1alpha1.Kind, "zero", "")
	if status := postEvent(t, f.stack.FunctionURLs["job-created"], late); status != http.StatusAccepted {
		t.Errorf("event to job-created with no instance answered %d, want the function's 202", status)
	}
	if got := jobCreated.ColdStarts(); len(got) != cold+1 {
		t.Errorf("cold starts %d -> %d, want one more for the held event", cold, len(got))
	} else {
		c := got[len(got)-1]
		t.Logf("job-created cold start: process start -> ready %s, event accepted -> ready %s, accepted -> answered %s",
			c.ProcessToReady, c.AcceptedToReady, c.AcceptedToAnswered)
	}
	f.waitNoFunctionProcess(idle + 10*time.Second)

	// Two events at once, one request per instance: a second instance starts.
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		ev := resourceEvent(f.ns, v1alpha1.SchemeGroupVersion.String(), v1alpha1.Kind, "zero", "")
		ev.SetID("burst-" + strconv.Itoa(i))
		wg.Go(func() { statuses[i] = postEvent(t, f.stack.FunctionURLs["job-created"], ev) })
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusAccepted {
			t.Errorf("burst event %d answered %d, want 202", i, s)
		}
	}
	if pids := hostFunctionProcesses(t)["job-created"]; len(pids) != 2 {
		t.Errorf("job-created processes after two concurrent events at containerConcurrency 1: %v, want 2", pids)
	}
	f.waitNoFunctionProcess(idle + 10*time.Second)
}
