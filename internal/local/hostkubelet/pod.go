package hostkubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	errPodDeleted = errors.New("pod deleted")
	errDeadline   = errors.New("pod active deadline exceeded")
)

const (
	// maxMessageBytes is the kubelet's limit on one termination message.
	maxMessageBytes = 4096
	// Log fallback limits of terminationMessagePolicy FallbackToLogsOnError.
	fallbackLogBytes = 2048
	fallbackLogLines = 80
	// maxGrace caps terminationGracePeriodSeconds (API default 30 s) so a deadline or a
	// shutdown of the local stack never waits that long for a process ignoring SIGTERM.
	maxGrace = 10 * time.Second
	// retryInterval paces retries of a mount or an env reference that cannot be resolved yet.
	retryInterval = 2 * time.Second
)

// podRun is one Pod being run. status is the kubelet's view, written whole by writeStatus.
type podRun struct {
	k   *Kubelet
	pod *corev1.Pod
	dir string
	log *slog.Logger

	writeMu sync.Mutex // orders status writes so an older snapshot never lands last
	mu      sync.Mutex
	status  corev1.PodStatus
}

// prepared is a container ready to start on the host.
type prepared struct {
	c        *corev1.Container
	init     bool
	argv     []string
	env      []string
	workDir  string
	termFile string
	logFile  string
	// hide are the host directories of the Pod's volumes the container does not mount.
	hide []string
}

// runPod runs the Pod's containers once a slot is free, as a kubelet with room on the node.
func (k *Kubelet) runPod(ctx context.Context, pod *corev1.Pod) {
	select {
	case k.sem <- struct{}{}:
	case <-ctx.Done():
		return // never started: the Pod stays Pending, untouched
	}
	defer func() { <-k.sem }()

	r := &podRun{k: k, pod: pod, dir: k.podDir(pod),
		log: k.log.With("pod", pod.Namespace+"/"+pod.Name, "uid", pod.UID)}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.start()
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil {
		deadline := time.Duration(*d)*time.Second - time.Since(r.status.StartTime.Time)
		t := time.AfterFunc(deadline, func() { cancel(errDeadline) })
		defer t.Stop()
	}
	r.log.Info("pod started")
	r.writeStatus(ctx)
	r.run(ctx)
	// Nothing of the Pod may run on: a container's exit kills its own stragglers, this
	// catches those of a container that never got that far.
	sweep(func(v string) bool { return strings.HasPrefix(v, string(pod.UID)+"/") })
}

// start sets the status a kubelet reports when it accepts a Pod.
func (r *podRun) start() {
	now := metav1.Now()
	st := &r.status
	*st = corev1.PodStatus{
		Phase:     corev1.PodPending,
		StartTime: &now,
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
	}
	mainWaiting := reasonInitializing
	if len(r.pod.Spec.InitContainers) == 0 {
		mainWaiting = reasonCreating
	}
	for _, c := range r.pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Started: ptr(false), State: waiting(reasonInitializing, "")})
	}
	for _, c := range r.pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Started: ptr(false), State: waiting(mainWaiting, "")})
	}
	setCondition(st, corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "")
	setCondition(st, corev1.PodScheduled, corev1.ConditionTrue, "", "")
	updateReadiness(st)
}

func (r *podRun) run(ctx context.Context) {
	hostPaths, ok := r.setUp(ctx)
	if !ok {
		r.finish(ctx)
		return
	}
	sidecars := &sidecarSet{r: r}
	// However the run ends, sidecars stop after the other containers, as the kubelet stops
	// them (in reverse order, each with SIGTERM and its grace period) before the Pod is terminal.
	defer sidecars.stop()
	for i := range r.pod.Spec.InitContainers {
		c := &r.pod.Spec.InitContainers[i]
		p, ok := r.prepare(ctx, c, true, hostPaths)
		if !ok {
			sidecars.stop()
			r.finish(ctx)
			return
		}
		r.setRunning(p)
		if isSidecar(c) {
			// A restartable init container (a sidecar) runs alongside the rest of the Pod;
			// the next init container starts once it has started.
			sidecars.start(ctx, p)
			r.writeStatus(ctx)
			continue
		}
		r.writeStatus(ctx)
		term := r.exec(ctx, p)
		r.setTerminated(p, term)
		if ctx.Err() != nil {
			sidecars.stop()
			r.finish(ctx)
			return
		}
		if term.ExitCode != 0 {
			// restartPolicy Never: a failed init container fails the Pod and nothing else runs.
			sidecars.stop()
			r.setPhase(corev1.PodFailed, "", "")
			r.log.Info("pod failed: init container failed", "container", c.Name, "exitCode", term.ExitCode)
			r.writeStatus(ctx)
			return
		}
		r.writeStatus(ctx)
	}

	var ps []*prepared
	for i := range r.pod.Spec.Containers {
		p, ok := r.prepare(ctx, &r.pod.Spec.Containers[i], false, hostPaths)
		if !ok {
			sidecars.stop()
			r.finish(ctx)
			return
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		r.setRunning(p)
	}
	r.setPhase(corev1.PodRunning, "", "")
	r.writeStatus(ctx)

	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			term := r.exec(ctx, p)
			r.setTerminated(p, term)
			if ctx.Err() == nil {
				r.writeStatus(ctx) // the others may run on: report this one now
			}
		}()
	}
	wg.Wait()
	// The Pod is terminal only once its sidecars have stopped: their termination messages
	// are part of the status that announces it.
	sidecars.stop()
	if ctx.Err() != nil {
		r.finish(ctx)
		return
	}
	phase := corev1.PodSucceeded
	for _, cs := range r.snapshot().ContainerStatuses {
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			phase = corev1.PodFailed
		}
	}
	r.setPhase(phase, "", "")
	r.log.Info("pod finished", "phase", phase)
	r.writeStatus(ctx)
}

// finish reports a Pod whose run was cut short, by its cause.
func (r *podRun) finish(ctx context.Context) {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errPodDeleted):
		r.log.Info("pod deleted: its processes were killed")
	case errors.Is(cause, errDeadline):
		r.setPhase(corev1.PodFailed, reasonDeadline, messageDeadline)
		r.log.Info("pod failed: active deadline exceeded")
		r.event(ctx, corev1.EventTypeWarning, reasonDeadline, "", messageDeadline)
		r.writeStatus(ctx)
	default:
		r.setPhase(corev1.PodFailed, reasonShutdown, messageShutdown)
		r.mu.Lock()
		setCondition(&r.status, corev1.DisruptionTarget, corev1.ConditionTrue, reasonDisruption,
			"the host kubelet on "+r.k.opts.NodeName+" stopped while the pod ran")
		r.mu.Unlock()
		r.log.Info("pod failed: host kubelet stopping")
		r.writeStatus(ctx)
	}
}

// abandoned fails a Pod that a previous run of the kubelet started but did not finish: its
// processes died with that run, so it can only be reported, the way a node shutdown is.
func (k *Kubelet) abandoned(ctx context.Context, pod *corev1.Pod) {
	r := &podRun{k: k, pod: pod, dir: k.podDir(pod), status: *pod.Status.DeepCopy(),
		log: k.log.With("pod", pod.Namespace+"/"+pod.Name, "uid", pod.UID)}
	now := metav1.Now()
	for _, list := range [][]corev1.ContainerStatus{r.status.InitContainerStatuses, r.status.ContainerStatuses} {
		for i := range list {
			if run := list[i].State.Running; run != nil {
				list[i].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Reason: reasonError, StartedAt: run.StartedAt, FinishedAt: now,
					Message: "the host kubelet stopped while the container ran; its processes ended with it"}}
				list[i].Ready, list[i].Started = false, ptr(false)
			}
		}
	}
	r.setPhase(corev1.PodFailed, reasonShutdown, messageShutdown)
	setCondition(&r.status, corev1.DisruptionTarget, corev1.ConditionTrue, reasonDisruption,
		"the host kubelet on "+k.opts.NodeName+" restarted and lost the pod's processes")
	r.log.Info("pod failed: started by an earlier host kubelet that stopped")
	r.writeStatus(ctx)
}

// setUp creates the Pod's directories and volumes, retrying until they can be made.
func (r *podRun) setUp(ctx context.Context) (map[string]string, bool) {
	// A directory left by an earlier Pod of the same name must not leak into this one.
	if err := os.RemoveAll(r.dir); err != nil {
		r.log.Warn("clearing pod directory", "err", err)
	}
	var hostPaths map[string]string
	ok := r.retry(ctx, func() error {
		if err := os.MkdirAll(filepath.Join(r.dir, kubeletDir, "home"), 0o700); err != nil {
			return fmt.Errorf("pod directory: %w", err)
		}
		if err := os.MkdirAll(filepath.Join(r.dir, kubeletDir, "tmp"), 0o700); err != nil {
			return fmt.Errorf("pod directory: %w", err)
		}
		var err error
		hostPaths, err = setUpVolumes(ctx, r.k.client, r.pod, r.dir)
		return err
	}, func(err error) {
		r.event(ctx, corev1.EventTypeWarning, "FailedMount", "", err.Error())
	})
	return hostPaths, ok
}

// prepare resolves a container's environment and command line, retrying (with the kubelet's
// CreateContainerConfigError in the status) while a referenced Secret or ConfigMap is missing.
func (r *podRun) prepare(ctx context.Context, c *corev1.Container, init bool, hostPaths map[string]string) (*prepared, bool) {
	p := &prepared{c: c, init: init,
		termFile: filepath.Join(r.dir, kubeletDir, c.Name+".termination-log"),
		logFile:  filepath.Join(r.dir, kubeletDir, c.Name+".log"),
		workDir:  filepath.Join(r.dir, kubeletDir, c.Name+".root"),
	}
	ok := r.retry(ctx, func() error {
		mounts, err := containerMounts(c, hostPaths)
		if err != nil {
			return err
		}
		vals, list, err := containerEnv(ctx, r.k.client, r.pod, c, func(v string) string {
			return hostPath(v, mounts, c.TerminationMessagePath, p.termFile)
		})
		if err != nil {
			return err
		}
		if p.argv, err = argv(c, vals, mounts, p.termFile, &r.k.opts); err != nil {
			return err
		}
		if c.WorkingDir != "" {
			p.workDir = hostPath(c.WorkingDir, mounts, "", "")
		}
		p.hide = unmounted(r.pod, c, hostPaths)
		p.env = append(r.baseEnv(c), list...)
		return nil
	}, func(err error) {
		r.mu.Lock()
		if cs := containerStatus(&r.status, init, c.Name); cs != nil {
			cs.State = waiting(reasonConfigError, err.Error())
		}
		r.mu.Unlock()
		r.writeStatus(ctx)
		r.event(ctx, corev1.EventTypeWarning, "Failed", c.Name, "Error: "+err.Error())
	})
	return p, ok
}

// baseEnv is what a container gets before its own env: enough of the host to find programs,
// a private HOME and TMPDIR inside the pod directory, and the marker that tracks its processes.
func (r *podRun) baseEnv(c *corev1.Container) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOSTNAME=" + r.pod.Name,
		"HOME=" + filepath.Join(r.dir, kubeletDir, "home"),
		"TMPDIR=" + filepath.Join(r.dir, kubeletDir, "tmp"),
		MarkerEnv + "=" + marker(r.pod, c.Name),
	}
	for _, k := range []string{"LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func marker(pod *corev1.Pod, container string) string { return string(pod.UID) + "/" + container }

// retry runs f until it succeeds or ctx ends, calling onFail when the error changes (the
// kubelet reports a persisting failure once, not every attempt). It reports success.
func (r *podRun) retry(ctx context.Context, f func() error, onFail func(error)) bool {
	last := ""
	for {
		if ctx.Err() != nil {
			return false
		}
		err := f()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if err.Error() != last {
			last = err.Error()
			r.log.Warn("pod cannot start yet, retrying", "err", err)
			onFail(err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(retryInterval):
		}
	}
}

func (r *podRun) setRunning(p *prepared) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs := containerStatus(&r.status, p.init, p.c.Name); cs != nil {
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
		cs.Started = ptr(true)
		// Without probes a running main container or sidecar is ready; an init container never is.
		cs.Ready = !p.init || isSidecar(p.c)
	}
	updateReadiness(&r.status)
}

func (r *podRun) setTerminated(p *prepared, t *corev1.ContainerStateTerminated) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs := containerStatus(&r.status, p.init, p.c.Name); cs != nil {
		cs.State = corev1.ContainerState{Terminated: t}
		cs.Started = ptr(false)
		cs.ContainerID = t.ContainerID
		// The kubelet reports a completed init container as ready, a stopped one as not.
		cs.Ready = p.init && t.ExitCode == 0
	}
	updateReadiness(&r.status)
}

func (r *podRun) setPhase(phase corev1.PodPhase, reason, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.Phase, r.status.Reason, r.status.Message = phase, reason, message
	updateReadiness(&r.status)
}

func (r *podRun) snapshot() *corev1.PodStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status.DeepCopy()
}

// unmounted are the host directories of pod's volumes that c does not mount (hostPath
// volumes are the host's own and stay as they are).
func unmounted(pod *corev1.Pod, c *corev1.Container, hostPaths map[string]string) []string {
	mounted := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		mounted[vm.Name] = true
	}
	var dirs []string
	for _, v := range pod.Spec.Volumes {
		if v.HostPath == nil && !mounted[v.Name] && hostPaths[v.Name] != "" {
			dirs = append(dirs, hostPaths[v.Name])
		}
	}
	return dirs
}

// exec runs a prepared container to its end, killing it when ctx ends, and returns its
// terminated state. Whatever else it started dies with it, as in a container's PID namespace.
// As root, the container cannot see the Pod's volumes it does not mount (hide), and is started
// from one of the threads kept for that (onHidingThread).
func (r *podRun) exec(ctx context.Context, p *prepared) *corev1.ContainerStateTerminated {
	var term *corev1.ContainerStateTerminated
	if len(p.hide) > 0 && canHide() {
		onHidingThread(func() (ok bool) {
			var parked bool
			term, parked = r.execOnThread(ctx, p, true)
			if parked {
				r.log.Error("a host kubelet thread is parked for good: it could not return to the process's mount namespace", "container", p.c.Name)
			}
			return !parked
		})
		return term
	}
	// Pdeathsig fires when the thread that forked dies, so that thread must stay put until the
	// process has been waited for.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	term, _ = r.execOnThread(ctx, p, false)
	return term
}

// execOnThread is exec on the caller's locked OS thread; parked reports that the thread is
// stuck in a namespace of its own.
func (r *podRun) execOnThread(ctx context.Context, p *prepared, isolate bool) (_ *corev1.ContainerStateTerminated, parked bool) {
	started := metav1.Now()
	term := &corev1.ContainerStateTerminated{StartedAt: started}
	startErr := func(err error) *corev1.ContainerStateTerminated {
		// What container runtimes report for a process that could not be started.
		term.ExitCode, term.Reason, term.Message, term.FinishedAt = 128, reasonStartError, err.Error(), metav1.Now()
		r.event(ctx, corev1.EventTypeWarning, "Failed", p.c.Name, "Error: "+err.Error())
		return term
	}
	// The kubelet provides the file empty: a message left by an earlier attempt is not this one's.
	if err := os.WriteFile(p.termFile, nil, 0o644); err != nil {
		return startErr(fmt.Errorf("termination message file: %w", err)), false
	}
	if err := os.MkdirAll(p.workDir, 0o755); err != nil {
		return startErr(fmt.Errorf("working directory: %w", err)), false
	}
	logf, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return startErr(fmt.Errorf("container log: %w", err)), false
	}
	defer logf.Close()

	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = p.env, p.workDir, logf, logf
	leash(cmd)
	var startErrv error
	if isolate {
		restore, err := hide(cmd, p.hide)
		if err == nil {
			startErrv = cmd.Start()
		} else {
			startErrv = fmt.Errorf("hide the volumes the container does not mount: %w", err)
		}
		if restore != nil {
			if err := restore(); err != nil {
				r.log.Error("leaving the container's mount namespace", "container", p.c.Name, "err", err)
				parked = true
			}
		}
	} else {
		startErrv = cmd.Start()
	}
	if startErrv != nil {
		return startErr(startErrv), parked
	}
	pid := cmd.Process.Pid
	term.ContainerID = "host://" + strconv.Itoa(pid)
	r.log.Info("container started", "container", p.c.Name, "pid", pid, "argv", p.argv)
	r.event(ctx, corev1.EventTypeNormal, "Started", p.c.Name, "Started container "+p.c.Name)

	waited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status is read from cmd.ProcessState
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		r.kill(ctx, p, pid, waited)
	}
	// The main process is gone: its group and anything carrying its marker go with it.
	_ = signalGroup(pid, syscall.SIGKILL)
	if n := sweep(func(v string) bool { return v == marker(r.pod, p.c.Name) }); n > 0 {
		r.log.Info("killed processes left behind by the container", "container", p.c.Name, "count", n)
	}

	term.FinishedAt = metav1.Now()
	term.ExitCode = exitCode(cmd.ProcessState)
	term.Reason = reasonCompleted
	if term.ExitCode != 0 {
		term.Reason = reasonError
	}
	term.Message = r.terminationMessage(p, term.ExitCode)
	r.log.Info("container terminated", "container", p.c.Name, "exitCode", term.ExitCode)
	return term, parked
}

// kill stops a container as the kubelet does: SIGTERM, a grace period, then SIGKILL.
func (r *podRun) kill(ctx context.Context, p *prepared, pid int, waited <-chan struct{}) {
	grace := maxGrace
	if g := r.pod.Spec.TerminationGracePeriodSeconds; g != nil && time.Duration(*g)*time.Second < grace {
		grace = time.Duration(*g) * time.Second
	}
	r.log.Info("killing container", "container", p.c.Name, "pid", pid, "grace", grace, "cause", context.Cause(ctx))
	r.event(ctx, corev1.EventTypeNormal, "Killing", p.c.Name, "Stopping container "+p.c.Name)
	if err := signalGroup(pid, syscall.SIGTERM); err != nil {
		r.log.Warn("signalling container", "container", p.c.Name, "err", err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-waited:
		return
	case <-t.C:
	}
	if err := signalGroup(pid, syscall.SIGKILL); err != nil {
		r.log.Warn("killing container", "container", p.c.Name, "err", err)
	}
	<-waited
}

// terminationMessage reads the container's termination file as the kubelet does: its first
// 4096 bytes, or with FallbackToLogsOnError and a failure, the end of the log.
func (r *podRun) terminationMessage(p *prepared, exit int32) string {
	msg, err := readHead(p.termFile, maxMessageBytes)
	if err != nil {
		r.log.Warn("reading termination message", "container", p.c.Name, "err", err)
	}
	if msg == "" && exit != 0 && p.c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		msg = logTail(p.logFile)
	}
	return msg
}

func readHead(path string, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n))
	return string(b), err
}

// logTail is the last 80 lines of the log, at most 2048 bytes.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\n")
	if len(b) > fallbackLogBytes {
		b = b[len(b)-fallbackLogBytes:]
	}
	if lines := bytes.Split(b, []byte("\n")); len(lines) > fallbackLogLines {
		b = bytes.Join(lines[len(lines)-fallbackLogLines:], []byte("\n"))
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }

// isSidecar reports whether c is a restartable init container (restartPolicy Always).
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// sidecarSet is a Pod's running sidecars. They are not restarted here when they exit (the
// kubelet would; the project's only sidecar exits when told to).
type sidecarSet struct {
	r       *podRun
	running []*sidecar
}

type sidecar struct {
	p      *prepared
	cancel context.CancelCauseFunc
	done   chan struct{}
}

var errSidecarStop = errors.New("the pod's other containers ended: stopping sidecar")

func (s *sidecarSet) start(ctx context.Context, p *prepared) {
	sctx, cancel := context.WithCancelCause(ctx)
	sc := &sidecar{p: p, cancel: cancel, done: make(chan struct{})}
	s.running = append(s.running, sc)
	go func() {
		defer close(sc.done)
		term := s.r.exec(sctx, p)
		s.r.setTerminated(p, term)
	}()
}

// stop stops the sidecars in reverse order of their start, each to its end, and reports them.
func (s *sidecarSet) stop() {
	for i := len(s.running) - 1; i >= 0; i-- {
		sc := s.running[i]
		sc.cancel(errSidecarStop)
		<-sc.done
	}
	s.running = nil
}
