package hostkubelet

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/mlops-dev/nbv/internal/validationpod"
)

// fakeRunner stands in for nbv-runner: it records its arguments and environment in the
// workspace, checks the credentials file is there, and writes a summary to --termination-log.
const fakeRunner = `#!/bin/sh
sub=$1; shift
while [ $# -gt 0 ]; do
  case $1 in
    --workspace) ws=$2 ;;
    --termination-log) term=$2 ;;
  esac
  shift
done
env > "$ws/$sub.env"
if [ "$sub" = prepare ] && ! grep -qx s3cret "$CREDS/token"; then exit 9; fi
printf '{"v":1,"result":"passed","sub":"%s"}' "$sub" > "$term"
echo "runner $sub done"
exit "${FAKE_EXIT:-0}"
`

type harness struct {
	t      *testing.T
	client *fake.Clientset
	k      *Kubelet
	work   string
	done   chan error
	cancel context.CancelFunc
	uids   []types.UID // of the pods created: other tests on this machine may run pods too
}

func start(t *testing.T, objs ...runtime.Object) *harness {
	t.Helper()
	dir := t.TempDir()
	runner := filepath.Join(dir, "nbv-runner")
	if err := os.WriteFile(runner, []byte(fakeRunner), 0o755); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, client: fake.NewClientset(objs...), work: filepath.Join(dir, "work"), done: make(chan error, 1)}
	// The fake API server drops objects created between the informer's list and its watch:
	// tests create Pods only once the watch is registered.
	watching := make(chan struct{})
	var once sync.Once
	h.client.PrependWatchReactor("pods", func(a k8stesting.Action) (bool, watch.Interface, error) {
		w, err := h.client.Tracker().Watch(a.GetResource(), a.GetNamespace())
		once.Do(func() { close(watching) })
		return true, w, err
	})
	h.k = newKubelet(h.client, Options{RunnerBinary: runner, WorkDir: h.work, NodeName: "test-node",
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.k.Run(ctx) }()
	t.Cleanup(func() { h.stop() })
	select {
	case <-watching:
	case <-time.After(10 * time.Second):
		t.Fatal("the kubelet never watched pods")
	}
	return h
}

// stop ends Run and fails the test unless it returns promptly with every process gone.
func (h *harness) stop() {
	h.t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
		h.done <- nil // a second stop returns at once
	case <-time.After(30 * time.Second):
		h.t.Fatal("Run did not return 30 s after its context was cancelled")
	}
	for _, uid := range h.uids {
		if pids := alive(uid); len(pids) > 0 {
			h.t.Errorf("processes of pod %s outlived Run: %v", uid, pids)
		}
	}
}

func (h *harness) create(pod *corev1.Pod) *corev1.Pod {
	h.t.Helper()
	if pod.UID == "" {
		pod.UID = types.UID("uid-" + pod.Name)
	}
	p, err := h.client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.uids = append(h.uids, p.UID)
	return p
}

func (h *harness) wait(pod *corev1.Pod, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := h.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err == nil && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("pod %s never %s; last: %+v (err %v)", pod.Name, what, p.Status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// statuses are the statuses written for a pod, in order.
func (h *harness) statuses(name string) []corev1.PodStatus {
	var out []corev1.PodStatus
	for _, a := range h.client.Actions() {
		u, ok := a.(k8stesting.UpdateAction)
		if !ok || u.GetSubresource() != "status" {
			continue
		}
		if p := u.GetObject().(*corev1.Pod); p.Name == name {
			out = append(out, p.Status)
		}
	}
	return out
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// validationLikePod mirrors validationpod.Build: prepare installs and clones, notebook executes.
func validationLikePod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a", Labels: map[string]string{validationpod.LabelJob: "job"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Volumes: []corev1.Volume{
				{Name: "nbv-bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "nbv-workspace", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "git"}}},
			},
			InitContainers: []corev1.Container{{
				Name: "prepare", Image: "runner", Command: []string{"nbv-runner"},
				Args:                   []string{"prepare", "--install-dir", "/nbv/bin", "--workspace", "/nbv/workspace", "--termination-log", "/dev/termination-log"},
				VolumeMounts:           []corev1.VolumeMount{{Name: "nbv-bin", MountPath: "/nbv/bin"}, {Name: "nbv-workspace", MountPath: "/nbv/workspace"}, {Name: "creds", MountPath: "/nbv/credentials/notebook"}},
				Env:                    []corev1.EnvVar{{Name: "CREDS", Value: "/nbv/credentials/notebook"}},
				TerminationMessagePath: "/dev/termination-log",
			}},
			Containers: []corev1.Container{{
				Name: "notebook", Image: "user", Command: []string{"/nbv/bin/nbv-runner"},
				Args:         []string{"execute", "--workspace", "/nbv/workspace", "--termination-log", "/dev/termination-log"},
				VolumeMounts: []corev1.VolumeMount{{Name: "nbv-bin", MountPath: "/nbv/bin", ReadOnly: true}, {Name: "nbv-workspace", MountPath: "/nbv/workspace"}},
				Env: []corev1.EnvVar{
					{Name: "GREETING", Value: "hello"},
					{Name: "PHRASE", Value: "$(GREETING) world, $$(GREETING)"},
					{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "git"}, Key: "token"}}},
					{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				},
				EnvFrom:                []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
				TerminationMessagePath: "/dev/termination-log",
			}},
		},
	}
}

func objects() []runtime.Object {
	return []runtime.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git", Namespace: "team-a"}, Data: map[string][]byte{"token": []byte("s3cret")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "team-a"}, Data: map[string]string{"mode": "fast"}},
	}
}

func TestPodRunsInitThenMainAndSucceeds(t *testing.T) {
	h := start(t, objects()...)
	pod := h.create(validationLikePod("ok"))
	p := h.wait(pod, "finished", terminal)

	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase = %s, want Succeeded; status %+v", p.Status.Phase, p.Status)
	}
	init := p.Status.InitContainerStatuses[0].State.Terminated
	main := p.Status.ContainerStatuses[0].State.Terminated
	if init == nil || init.Reason != "Completed" || init.ExitCode != 0 || !strings.Contains(init.Message, `"sub":"prepare"`) {
		t.Errorf("init terminated = %+v", init)
	}
	if main == nil || main.Reason != "Completed" || main.Message != `{"v":1,"result":"passed","sub":"execute"}` {
		t.Errorf("main terminated = %+v", main)
	}
	if main != nil && init != nil && main.StartedAt.Before(&init.FinishedAt) {
		t.Errorf("main started %v before init finished %v", main.StartedAt, init.FinishedAt)
	}
	if p.Status.StartTime == nil || p.Status.HostIP != hostIP {
		t.Errorf("startTime %v hostIP %q", p.Status.StartTime, p.Status.HostIP)
	}

	// The phases a watcher sees, in order, with the containers a kubelet would show.
	var phases []corev1.PodPhase
	sawInitRunning, sawMainRunning := false, false
	for _, st := range h.statuses("ok") {
		if len(phases) == 0 || phases[len(phases)-1] != st.Phase {
			phases = append(phases, st.Phase)
		}
		if st.Phase == corev1.PodPending && st.InitContainerStatuses[0].State.Running != nil {
			sawInitRunning = st.ContainerStatuses[0].State.Waiting != nil && st.ContainerStatuses[0].State.Waiting.Reason == "PodInitializing"
		}
		if st.Phase == corev1.PodRunning && st.ContainerStatuses[0].State.Running != nil {
			sawMainRunning = st.ContainerStatuses[0].Ready
		}
	}
	if want := []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded}; !reflect.DeepEqual(phases, want) {
		t.Errorf("phases = %v, want %v", phases, want)
	}
	if !sawInitRunning || !sawMainRunning {
		t.Errorf("saw init running while pending = %v, main running and ready = %v", sawInitRunning, sawMainRunning)
	}

	// Paths were mapped to the pod's volume directories and the secret written owner-only.
	podDir := filepath.Join(h.work, "team-a", "ok")
	env, err := os.ReadFile(filepath.Join(podDir, "nbv-workspace", "execute.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GREETING=hello", "PHRASE=hello world, $(GREETING)", "TOKEN=s3cret", "POD=ok", "CM_mode=fast", MarkerEnv + "=uid-ok/notebook"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("execute env lacks %q:\n%s", want, env)
		}
	}
	if penv, _ := os.ReadFile(filepath.Join(podDir, "nbv-workspace", "prepare.env")); !strings.Contains(string(penv), "CREDS="+filepath.Join(podDir, "creds")+"\n") {
		t.Errorf("prepare env does not map CREDS to the volume:\n%s", penv)
	}
	st, err := os.Stat(filepath.Join(podDir, "creds", "token"))
	if err != nil || st.Mode().Perm() != 0o400 {
		t.Errorf("secret file: %v, mode %v", err, st)
	}
	if log, _ := os.ReadFile(filepath.Join(podDir, kubeletDir, "notebook.log")); string(log) != "runner execute done\n" {
		t.Errorf("container log = %q", log)
	}
}

func TestFailedInitFailsPodAndSkipsMain(t *testing.T) {
	h := start(t, objects()...)
	pod := validationLikePod("badinit")
	pod.Spec.InitContainers[0].Env = append(pod.Spec.InitContainers[0].Env, corev1.EnvVar{Name: "FAKE_EXIT", Value: "2"})
	p := h.wait(h.create(pod), "finished", terminal)

	if p.Status.Phase != corev1.PodFailed {
		t.Fatalf("phase = %s, want Failed", p.Status.Phase)
	}
	if init := p.Status.InitContainerStatuses[0].State.Terminated; init == nil || init.ExitCode != 2 || init.Reason != "Error" {
		t.Errorf("init terminated = %+v", init)
	}
	if w := p.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != "PodInitializing" {
		t.Errorf("main state = %+v, want waiting PodInitializing", p.Status.ContainerStatuses[0].State)
	}
	if _, err := os.Stat(filepath.Join(h.work, "team-a", "badinit", "nbv-workspace", "execute.env")); !os.IsNotExist(err) {
		t.Errorf("main container ran after a failed init container (stat: %v)", err)
	}
}

// shellPod runs script with sh as its only container.
func shellPod(name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a", Labels: map[string]string{validationpod.LabelJob: "job"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"/bin/sh", "-c", script},
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError}},
		},
	}
}

func alive(uid types.UID) []int {
	return marked(func(v string) bool { return strings.HasPrefix(v, string(uid)+"/") })
}

func TestDeadlineKillsEveryProcess(t *testing.T) {
	h := start(t)
	// setsid takes one sleeper out of the process group, as a Jupyter kernel leaves it.
	pod := shellPod("slow", "setsid sleep 300 & sleep 300")
	pod.Spec.ActiveDeadlineSeconds = ptr(int64(1))
	began := time.Now()
	p := h.wait(h.create(pod), "finished", terminal)

	if p.Status.Phase != corev1.PodFailed || p.Status.Reason != "DeadlineExceeded" || p.Status.Message != messageDeadline {
		t.Fatalf("status = %s %q %q, want Failed DeadlineExceeded", p.Status.Phase, p.Status.Reason, p.Status.Message)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("deadline of 1 s enforced after %v", d)
	}
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 143 || term.Reason != "Error" {
		t.Errorf("container = %+v, want terminated by SIGTERM (143)", p.Status.ContainerStatuses[0].State)
	}
	if pids := alive(p.UID); len(pids) > 0 {
		t.Errorf("processes left behind: %v", pids)
	}
	if o := validationpod.Classify(p); o.State != validationpod.StateTimedOut {
		t.Errorf("Classify = %+v, want TimedOut", o)
	}
}

func TestFailureMessageFallsBackToLog(t *testing.T) {
	h := start(t)
	p := h.wait(h.create(shellPod("crash", "echo first; echo boom >&2; exit 3")), "finished", terminal)
	term := p.Status.ContainerStatuses[0].State.Terminated
	if p.Status.Phase != corev1.PodFailed || term == nil || term.ExitCode != 3 || term.Message != "first\nboom" {
		t.Fatalf("phase %s, terminated %+v", p.Status.Phase, term)
	}
}

func TestDeletedPodIsKilledAndCleanedUp(t *testing.T) {
	h := start(t)
	pod := h.create(shellPod("doomed", "sleep 300"))
	h.wait(pod, "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	// Running is written as the container starts, so its process may appear a moment later.
	eventually(t, "a process runs for the running pod", func() bool { return len(alive(pod.UID)) > 0 })
	if err := h.client.CoreV1().Pods("team-a").Delete(context.Background(), "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "processes killed and directory removed", func() bool {
		_, err := os.Stat(filepath.Join(h.work, "team-a", "doomed"))
		return len(alive(pod.UID)) == 0 && os.IsNotExist(err)
	})
}

func TestStopFailsRunningPodsAndKillsThem(t *testing.T) {
	h := start(t)
	// Ignoring SIGTERM (inherited by sleep) forces the SIGKILL after the grace period.
	pod := shellPod("stubborn", `trap "" TERM; sleep 300`)
	pod.Spec.TerminationGracePeriodSeconds = ptr(int64(1))
	pod = h.create(pod)
	h.wait(pod, "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	began := time.Now()
	h.stop()
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("Run took %v to stop", d)
	}
	p := h.wait(pod, "failed", terminal)
	if p.Status.Phase != corev1.PodFailed || p.Status.Reason != reasonShutdown {
		t.Errorf("status = %s %q", p.Status.Phase, p.Status.Reason)
	}
	if o := validationpod.Classify(p); o.Reason != validationpod.ReasonDisrupted {
		t.Errorf("Classify = %+v, want Disrupted (retried)", o)
	}
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 137 {
		t.Errorf("container = %+v, want SIGKILLed (137)", p.Status.ContainerStatuses[0].State)
	}
}

func TestMissingSecretIsRetriedAsConfigError(t *testing.T) {
	h := start(t)
	pod := shellPod("later", `test "$TOKEN" = s3cret`)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "git"}, Key: "token"}}}}
	pod = h.create(pod)
	h.wait(pod, "waiting on its config", func(p *corev1.Pod) bool {
		w := p.Status.ContainerStatuses
		return len(w) == 1 && w[0].State.Waiting != nil && w[0].State.Waiting.Reason == "CreateContainerConfigError" &&
			strings.Contains(w[0].State.Waiting.Message, `"git" not found`)
	})
	if _, err := h.client.CoreV1().Secrets("team-a").Create(context.Background(), objects()[0].(*corev1.Secret), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := h.wait(pod, "finished", terminal); p.Status.Phase != corev1.PodSucceeded {
		t.Errorf("phase = %s after the secret appeared", p.Status.Phase)
	}
}

func TestAtMostTwoPodsRunAtOnce(t *testing.T) {
	h := start(t)
	var pods []*corev1.Pod
	for _, n := range []string{"a", "b", "c"} {
		pods = append(pods, h.create(shellPod(n, "sleep 300")))
	}
	running := func() (names []string) {
		for _, p := range pods {
			got, err := h.client.CoreV1().Pods("team-a").Get(context.Background(), p.Name, metav1.GetOptions{})
			if err == nil && got.Status.StartTime != nil {
				names = append(names, got.Name)
			}
		}
		return names
	}
	eventually(t, "two pods started", func() bool { return len(running()) == 2 })
	time.Sleep(300 * time.Millisecond)
	started := running()
	if len(started) != 2 {
		t.Fatalf("started %v, want exactly two", started)
	}
	if err := h.client.CoreV1().Pods("team-a").Delete(context.Background(), started[0], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third pod started once a slot freed", func() bool {
		r := running()
		return len(r) == 2 && !contains(r, started[0])
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestAbandonedPodIsFailed(t *testing.T) {
	pod := shellPod("orphan", "true")
	pod.UID = "uid-orphan"
	now := metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "main", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}}
	h := start(t, pod)
	p := h.wait(pod, "failed", terminal)
	if p.Status.Reason != reasonShutdown || p.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Errorf("status = %+v", p.Status)
	}
	if _, err := os.Stat(filepath.Join(h.work, "team-a", "orphan")); !os.IsNotExist(err) {
		t.Errorf("the abandoned pod was run again (stat: %v)", err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestArgvMapsPathsAndRunner(t *testing.T) {
	opts := &Options{RunnerBinary: "/opt/nbv-runner", Python: "/usr/bin/python3"}
	mounts := []mount{{"/nbv/workspace/sub", "/w/sub"}, {"/nbv/workspace", "/w/ws"}, {"/data", "/w/data"}}
	c := &corev1.Container{Name: "n", Command: []string{"/nbv/bin/nbv-runner"}, TerminationMessagePath: "/dev/termination-log",
		Args: []string{"execute", "--workspace", "/nbv/workspace", "--notebook=/nbv/workspace/sub/x.ipynb", "/data2", "--termination-log", "/dev/termination-log", "$(DIR)/y"}}
	got, err := argv(c, map[string]string{"DIR": "/data"}, mounts, "/w/term", opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/opt/nbv-runner", "execute", "--workspace", "/w/ws", "--notebook=/w/sub/x.ipynb", "/data2", "--termination-log", "/w/term", "/w/data/y", "--python", "/usr/bin/python3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("argv =\n%q\nwant\n%q", got, want)
	}

	c.Args = []string{"execute", "--python=/opt/py", "--", "x"}
	if got, _ := argv(c, nil, nil, "", opts); !reflect.DeepEqual(got, []string{"/opt/nbv-runner", "execute", "--python=/opt/py", "--", "x"}) {
		t.Errorf("a pod's own --python was overridden: %q", got)
	}
	c.Command, c.Args = []string{"nbv-runner"}, []string{"prepare"}
	if got, _ := argv(c, nil, nil, "", opts); !reflect.DeepEqual(got, []string{"/opt/nbv-runner", "prepare"}) {
		t.Errorf("prepare argv = %q", got)
	}
	c.Command = nil
	if _, err := argv(c, nil, nil, "", opts); err == nil {
		t.Error("a container without a command was accepted")
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "1", "B": "two"}
	for in, want := range map[string]string{
		"$(A)-$(B)": "1-two", "$$(A)": "$(A)", "$(C)": "$(C)", "$(A": "$(A", "a$": "a$", "$$$(A)": "$1", "plain": "plain",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMergeStatusKeepsForeignConditions(t *testing.T) {
	cur := corev1.PodStatus{QOSClass: corev1.PodQOSBestEffort, Conditions: []corev1.PodCondition{
		{Type: "example.com/Custom", Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	ours := corev1.PodStatus{Phase: corev1.PodFailed, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}}
	got := mergeStatus(cur, ours)
	if got.QOSClass != corev1.PodQOSBestEffort || got.Phase != corev1.PodFailed || len(got.Conditions) != 2 ||
		got.Conditions[0].Type != "example.com/Custom" || got.Conditions[1].Status != corev1.ConditionFalse {
		t.Errorf("merged = %+v", got)
	}
}

func TestLogTail(t *testing.T) {
	f := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := 0; i < 100; i++ {
		b.WriteString("line\n")
	}
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := logTail(f); strings.Count(got, "\n") != fallbackLogLines-1 {
		t.Errorf("tail has %d lines, want %d", strings.Count(got, "\n")+1, fallbackLogLines)
	}
	if err := os.WriteFile(f, []byte(strings.Repeat("x", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := logTail(f); len(got) != fallbackLogBytes {
		t.Errorf("tail has %d bytes, want %d", len(got), fallbackLogBytes)
	}
}

// A restartable init container (a sidecar) starts before the main container, runs alongside
// it, is stopped with SIGTERM once the main container ends, and the Pod turns terminal only
// with the sidecar's termination message in its status. Its exit code does not decide the phase.
func TestSidecarStopsAfterMainAndReportsBeforeTerminal(t *testing.T) {
	h := start(t)
	always := corev1.ContainerRestartPolicyAlways
	pod := shellPod("sidecar", "sleep 0.3; echo main-done > /shared/main")
	pod.Spec.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}}
	// The script sees /shared only through its argument, which the kubelet maps to the volume.
	pod.Spec.Containers[0].Command = []string{"/bin/sh", "-c", `sleep 0.3; echo main-done > "$0/main"`, "/shared"}
	pod.Spec.InitContainers = []corev1.Container{{
		Name: "publish", Image: "runner", RestartPolicy: &always,
		Command:                []string{"/bin/sh", "-c", `trap 'cat "$0/main" > "$1"; exit 143' TERM; while :; do sleep 0.05; done`, "/shared", "/dev/termination-log"},
		VolumeMounts:           []corev1.VolumeMount{{Name: "shared", MountPath: "/shared", ReadOnly: true}},
		TerminationMessagePath: "/dev/termination-log",
	}}
	p := h.wait(h.create(pod), "finished", terminal)
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s; status %+v", p.Status.Phase, p.Status)
	}
	side := p.Status.InitContainerStatuses[0].State.Terminated
	main := p.Status.ContainerStatuses[0].State.Terminated
	if side == nil || side.Message != "main-done\n" {
		t.Fatalf("sidecar terminated %+v: it did not run past the main container", side)
	}
	if main == nil || side.FinishedAt.Before(&main.FinishedAt) || main.StartedAt.Before(&side.StartedAt) {
		t.Errorf("sidecar %v-%v, main %v-%v", side.StartedAt, side.FinishedAt, main.StartedAt, main.FinishedAt)
	}
	for _, st := range h.statuses("sidecar") {
		if st.Phase == corev1.PodSucceeded && st.InitContainerStatuses[0].State.Terminated == nil {
			t.Error("the Pod was reported Succeeded while its sidecar still ran")
		}
	}
	if pids := alive(p.UID); len(pids) > 0 {
		t.Errorf("processes left behind: %v", pids)
	}
}

// A container cannot read a Secret volume of its Pod that only another container mounts, by
// its host path or through the other container's /proc entries, and cannot unmount what hides
// it; the container that mounts it reads it.
func TestUnmountedSecretVolumeIsHiddenFromOtherContainers(t *testing.T) {
	if !canHide() {
		t.Skipf("hiding volumes is not available here: %v", hideUnavailable())
	}
	h := start(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "push", Namespace: "team-a"}, Data: map[string][]byte{"token": []byte("s3cret-push")}})
	always := corev1.ContainerRestartPolicyAlways
	pod := shellPod("hidden", "")
	secretDir := filepath.Join(h.work, "team-a", "hidden", "push")
	pod.Spec.Volumes = []corev1.Volume{{Name: "push", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "push"}}}}
	// The notebook's attempts: the file by its host path, the sidecar's environment and root
	// through /proc, and unmounting the cover. Each line reports what it found.
	pod.Spec.Containers[0].Command = []string{"/bin/sh", "-c", `
cat "$0/token" 2>/dev/null && echo LEAK-file
ls -A "$0" 2>/dev/null | grep -q . && echo LEAK-listing
for p in /proc/[0-9]*; do
  tr '\0' '\n' < $p/environ 2>/dev/null | grep -q '^PUSH_TOKEN=' && echo LEAK-environ
  cat $p/root/"$0"/token 2>/dev/null && echo LEAK-proc-root
done
umount "$0" 2>/dev/null && echo LEAK-umount
cat "$0/token" 2>/dev/null && echo LEAK-after-umount
echo checked
`, secretDir}
	pod.Spec.InitContainers = []corev1.Container{{
		Name: "publish", Image: "runner", RestartPolicy: &always,
		Command:                []string{"/bin/sh", "-c", `cat "$1/token" > "$0"; trap 'exit 0' TERM; while :; do sleep 0.05; done`, "/dev/termination-log", "/creds"},
		Env:                    []corev1.EnvVar{{Name: "PUSH_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "push"}, Key: "token"}}}},
		VolumeMounts:           []corev1.VolumeMount{{Name: "push", MountPath: "/creds", ReadOnly: true}},
		TerminationMessagePath: "/dev/termination-log",
	}}
	p := h.wait(h.create(pod), "finished", terminal)
	if side := p.Status.InitContainerStatuses[0].State.Terminated; side == nil || side.Message != "s3cret-push" {
		t.Fatalf("the container that mounts the Secret could not read it: %+v", side)
	}
	log, err := os.ReadFile(filepath.Join(h.work, "team-a", "hidden", kubeletDir, "main.log"))
	if err != nil || !strings.Contains(string(log), "checked") || strings.Contains(string(log), "LEAK") || strings.Contains(string(log), "s3cret") {
		t.Fatalf("the other container found the Secret: %v\n%s", err, log)
	}
	// On the host the Secret is where the kubelet wrote it: only the container was kept away.
	if b, err := os.ReadFile(filepath.Join(secretDir, "token")); err != nil || string(b) != "s3cret-push" {
		t.Errorf("host copy: %q, %v", b, err)
	}
}
