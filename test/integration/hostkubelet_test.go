package integration

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/hostkubelet"
	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// hkNotebooks are committed to the test's git repository.
var hkNotebooks = map[string][]string{
	"pass.ipynb":  {"x = 1 + 1", "print(x)"},
	"fail.ipynb":  {"a = 1", "raise ValueError('boom from cell two')", "print('never')"},
	"sleep.ipynb": {"import time\ntime.sleep(300)"},
}

// TestHostKubeletRunsValidationPods runs Pods made by validationpod.Build with the real
// nbv-runner and Python, through a real API server, and checks what a watcher of the Pod sees.
func TestHostKubeletRunsValidationPods(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := newNamespace(t, ctx, cp)
	client := kubernetes.NewForConfigOrDie(cp.RESTConfig())

	tmp := t.TempDir()
	runnerBin := hostRunner(t, ctx, tmp)
	repoURL := "file://" + hkGitRepo(t, filepath.Join(tmp, "repo"), hkNotebooks)

	runCtx, stop := context.WithCancel(ctx)
	k := hostkubelet.New(cp.RESTConfig(), hostkubelet.Options{
		RunnerBinary: runnerBin, WorkDir: filepath.Join(tmp, "work"), NodeName: "host", Namespace: ns,
		Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	runDone := make(chan error, 1)
	go func() { runDone <- k.Run(runCtx) }()
	stopped := false
	stopKubelet := func() {
		if stopped {
			return
		}
		stopped = true
		stop()
		select {
		case err := <-runDone:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Run did not return within a minute of its context ending")
		}
	}
	defer stopKubelet()

	var created []types.UID // processes are checked per pod: other tests may run a kubelet too
	create := func(t *testing.T, name, notebook, timeout string) *corev1.Pod {
		t.Helper()
		job := &v1alpha1.NotebookValidationJob{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: uuid.NewUUID()},
			Spec: v1alpha1.NotebookValidationJobSpec{
				Notebook:  v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: repoURL, Ref: "master"}, Path: notebook},
				PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "quay.io/jupyter/minimal-notebook"},
				Timeout:   timeout,
			},
		}
		pod, err := validationpod.Build(job, statemachine.PodName(job, 0), job.Spec.PodConfig.ContainerImage, validationpod.Options{RunnerImage: "ghcr.io/mlops-dev/nbv-runner:test"})
		if err != nil {
			t.Fatal(err)
		}
		if pod, err = client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		created = append(created, pod.UID)
		return pod
	}
	// await watches the Pod, as the pod-completed function's event source does, until it ends.
	await := func(t *testing.T, pod *corev1.Pod) (*corev1.Pod, []corev1.PodPhase) {
		t.Helper()
		w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + pod.Name, ResourceVersion: pod.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		var phases []corev1.PodPhase
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if len(phases) == 0 || phases[len(phases)-1] != p.Status.Phase {
				phases = append(phases, p.Status.Phase)
			}
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				return p, phases
			}
		}
		t.Fatalf("watch of %s ended before the pod finished (phases %v): %v", pod.Name, phases, ctx.Err())
		return nil, nil
	}
	decode := func(t *testing.T, cs []corev1.ContainerStatus) summary.Summary {
		t.Helper()
		if len(cs) != 1 || cs[0].State.Terminated == nil {
			t.Fatalf("container statuses = %+v, want one terminated", cs)
		}
		s, err := summary.Decode([]byte(cs[0].State.Terminated.Message))
		if err != nil {
			t.Fatalf("termination message %q: %v", cs[0].State.Terminated.Message, err)
		}
		return s
	}

	t.Run("passing notebook succeeds", func(t *testing.T) {
		p, phases := await(t, create(t, "pass", "pass.ipynb", "5m"))
		if p.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("phase = %s: %+v", p.Status.Phase, p.Status)
		}
		if !hkSubsequence(phases, corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded) {
			t.Errorf("phases seen = %v", phases)
		}
		if init := p.Status.InitContainerStatuses; len(init) != 1 || init[0].State.Terminated == nil || init[0].State.Terminated.ExitCode != 0 {
			t.Errorf("prepare = %+v", init)
		}
		s := decode(t, p.Status.ContainerStatuses)
		if s.Result != summary.ResultPassed || s.Cells.Total != 2 || s.Cells.Passed != 2 {
			t.Errorf("summary = %+v", s)
		}
		if o := validationpod.Classify(p); o.State != validationpod.StateSucceeded {
			t.Errorf("Classify = %+v", o)
		}
	})

	t.Run("failing notebook fails naming the cell", func(t *testing.T) {
		p, _ := await(t, create(t, "fail", "fail.ipynb", "5m"))
		if p.Status.Phase != corev1.PodFailed {
			t.Fatalf("phase = %s", p.Status.Phase)
		}
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 1 || term.Reason != "Error" {
			t.Errorf("notebook container = %+v", p.Status.ContainerStatuses[0].State)
		}
		s := decode(t, p.Status.ContainerStatuses)
		if s.Result != summary.ResultFailed || s.FirstFailure == nil || s.FirstFailure.Index != 1 || !strings.Contains(s.FirstFailure.Error, "boom from cell two") {
			t.Errorf("summary = %+v (first failure %+v)", s, s.FirstFailure)
		}
		if o := validationpod.Classify(p); o.State != validationpod.StateFailed || !strings.Contains(o.Message, "cell 1") {
			t.Errorf("Classify = %+v", o)
		}
	})

	t.Run("deadline stops a sleeping notebook", func(t *testing.T) {
		pod := create(t, "slow", "sleep.ipynb", "3s")
		began := time.Now()
		p, _ := await(t, pod)
		if p.Status.Phase != corev1.PodFailed || p.Status.Reason != "DeadlineExceeded" ||
			p.Status.Message != "Pod was active on the node longer than the specified deadline" {
			t.Fatalf("status = %s %q %q", p.Status.Phase, p.Status.Reason, p.Status.Message)
		}
		if d := time.Since(began); d > 30*time.Second {
			t.Errorf("a 3 s deadline took %v to enforce", d)
		}
		if pids := hkProcesses(string(p.UID) + "/"); len(pids) > 0 {
			t.Errorf("processes of the pod outlived its deadline: %v", pids)
		}
		if o := validationpod.Classify(p); o.State != validationpod.StateTimedOut {
			t.Errorf("Classify = %+v", o)
		}
	})

	t.Run("no process outlives Run", func(t *testing.T) {
		pod := create(t, "stopped", "sleep.ipynb", "5m")
		deadline := time.Now().Add(time.Minute)
		// The notebook container's runner and its Python at least: counted in that container
		// alone, since the prepare container's clone runs git-upload-pack beside the runner.
		for len(hkProcesses(string(pod.UID)+"/notebook")) < 2 {
			if time.Now().After(deadline) {
				t.Fatal("the notebook never started")
			}
			time.Sleep(100 * time.Millisecond)
		}
		stopKubelet()
		for _, uid := range created {
			if pids := hkProcesses(string(uid) + "/"); len(pids) > 0 {
				t.Errorf("processes of pod %s outlived Run: %v", uid, pids)
			}
		}
		p, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if o := validationpod.Classify(p); p.Status.Phase != corev1.PodFailed || o.Reason != validationpod.ReasonDisrupted {
			t.Errorf("after Run: phase %s, Classify %+v", p.Status.Phase, o)
		}
	})
}

// hostRunner skips t when the host Python lacks the notebook stack, else builds nbv-runner
// into dir and returns its path: what every test running validation pods on the host kubelet
// needs first.
func hostRunner(t *testing.T, ctx context.Context, dir string) string {
	t.Helper()
	if _, err := exec.Command(hostkubelet.DefaultPython, "-c", "import nbclient, ipykernel").CombinedOutput(); err != nil {
		t.Skipf("%s lacks nbclient/ipykernel (bash hack/install-python-deps.sh): %v", hostkubelet.DefaultPython, err)
	}
	runnerBin := filepath.Join(dir, "nbv-runner")
	build := exec.CommandContext(ctx, "go", "build", "-o", runnerBin, "./cmd/nbv-runner")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build nbv-runner: %v\n%s", err, out)
	}
	return runnerBin
}

// hkGitRepo commits hkNotebooks to a new repository at dir (branch master) and returns dir.
// hkGitRepo commits notebooks (file name -> code cells) to a new repository in dir.
func hkGitRepo(t *testing.T, dir string, notebooks map[string][]string) string {
	t.Helper()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for name, cells := range notebooks {
		if err := os.WriteFile(filepath.Join(dir, name), hkNotebook(cells), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: "test", Email: "test@example.com", When: time.Now()}
	if _, err := wt.Commit("notebooks", &git.CommitOptions{Author: sig}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func hkNotebook(cells []string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"cells": [`)
	for i, src := range cells {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"cell_type": "code", "execution_count": null, "id": "c` + strconv.Itoa(i) + `", "metadata": {}, "outputs": [], "source": ` + strconv.Quote(src) + `}`)
	}
	b.WriteString(`], "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}`)
	return b.Bytes()
}

// hkProcesses lists live processes whose hostkubelet marker starts with prefix.
func hkProcesses(prefix string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte(hostkubelet.MarkerEnv+"=")); ok && strings.HasPrefix(string(v), prefix) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func hkSubsequence(got []corev1.PodPhase, want ...corev1.PodPhase) bool {
	i := 0
	for _, p := range got {
		if i < len(want) && p == want[i] {
			i++
		}
	}
	return i == len(want)
}
