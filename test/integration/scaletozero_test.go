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

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/knservice"
	"github.com/mlops-dev/nbv/internal/local/localstack"
)

// hostFunctionProcesses lists, from /proc, the processes running a binary of functionsDir, by
// binary name: what the OS says runs, independently of what the stack believes.
func hostFunctionProcesses() (map[string][]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
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
	return out, nil
}

func (f *fixture) hostProcesses() map[string][]int {
	f.t.Helper()
	procs, err := hostFunctionProcesses()
	if err != nil {
		f.t.Fatal(err)
	}
	return procs
}

// processIdentity is who the function process pid authenticates as: the user of the
// kubeconfig its environment names, asked of the API server (SelfSubjectReview). It also
// returns the names of the process's environment variables.
func (f *fixture) processIdentity(pid int) (string, []string) {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		f.t.Fatal(err)
	}
	var names []string
	kubeconfig := ""
	for _, kv := range strings.Split(strings.TrimRight(string(data), "\x00"), "\x00") {
		name, value, _ := strings.Cut(kv, "=")
		names = append(names, name)
		if name == "KUBECONFIG" {
			kubeconfig = value
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		f.t.Fatalf("pid %d: KUBECONFIG %q: %v", pid, kubeconfig, err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	review, err := kube.AuthenticationV1().SelfSubjectReviews().Create(f.ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatalf("pid %d: who am I: %v", pid, err)
	}
	return review.Status.UserInfo.Username, names
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
		host, stack := f.hostProcesses(), f.stackProcesses()
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

	if host, stack := f.hostProcesses(), f.stackProcesses(); len(host) != 0 || len(stack) != 0 {
		t.Fatalf("function processes before any job: host %v, stack %v; want none", host, stack)
	}

	f.createJob("zero", nil)
	job := f.waitJob("zero", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	host, stack := f.hostProcesses(), f.stackProcesses()
	if len(stack["job-created"]) == 0 || !slices.Equal(host["job-created"], stack["job-created"]) {
		t.Errorf("while the job starts: host %v, stack %v; want job-created running, the same processes in both", host, stack)
	}
	// Configured only by its Knative Service: its environment is the manifest's plus the
	// stack's documented overrides and socket; its identity is its ServiceAccount.
	services, err := knservice.LoadDir(filepath.Join(repoRoot, "config", "functions"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"PORT": true, "LISTEN_FDS": true}
	for _, e := range services["job-created"].Env {
		allowed[e.Name] = true
	}
	for _, o := range f.stack.Overrides {
		if o.Function == "job-created" {
			allowed[o.Name] = true
		}
	}
	if pids := stack["job-created"]; len(pids) > 0 {
		user, env := f.processIdentity(pids[0])
		if want := "system:serviceaccount:nbv-system:nbv-job-created"; user != want {
			t.Errorf("job-created pid %d authenticates as %q, want %q", pids[0], user, want)
		}
		for _, name := range env {
			if !allowed[name] {
				t.Errorf("job-created pid %d has %s in its environment, which neither its Knative Service nor an override sets", pids[0], name)
			}
		}
	}
	for _, idleFn := range []string{"build-status-changed", "sweep"} {
		if len(host[idleFn]) != 0 {
			t.Errorf("%s runs (%v) though no event woke it", idleFn, host[idleFn])
		}
	}

	f.completePod(job.Status.ValidationPodName, 0, passedSummary())
	f.waitJob("zero", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
	if host := f.hostProcesses(); len(host["pod-completed"]) == 0 {
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
	if pids := f.hostProcesses()["job-created"]; len(pids) != 2 {
		t.Errorf("job-created processes after two concurrent events at containerConcurrency 1: %v, want 2", pids)
	}
	f.waitNoFunctionProcess(idle + 10*time.Second)
}
