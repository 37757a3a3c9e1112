// Package hostkubelet owns the kubelet role of the local embedded stack, where no node and no
// container runtime exist: it watches the project's validation Pods (label
// mlops.mlops.dev/notebookvalidationjob) on the API server, runs their init containers and
// then their containers as host processes (nbv-runner from Options.RunnerBinary, notebooks with
// Options.Python), and writes the Pod status a kubelet would write: Pending while init
// containers run, Running, then Succeeded or Failed with each container's exit code and
// termination message, DeadlineExceeded when activeDeadlineSeconds runs out. The functions
// watching those Pods cannot tell it from a real node.
//
// Volumes become per-pod host directories, <WorkDir>/<namespace>/<pod>/<volume>: emptyDir and
// persistentVolumeClaim volumes are empty directories (a claim's data does not outlive the
// Pod here), Secret and ConfigMap volumes are their keys written as files, hostPath is the
// host path itself. Every mountPath in a container's command, args, workingDir and literal env
// values is rewritten to its directory, and the terminationMessagePath to a per-container file under
// <WorkDir>/<namespace>/<pod>/.kubelet/, next to each container's log (stdout and stderr; there
// is no `kubectl logs` without a kubelet server). Images are not run: a container needs an
// explicit command, found on the host.
//
// Host processes have no container around them, so the package keeps them on a leash instead:
// each container's main process leads its own process group and dies with the thread that
// started it (Pdeathsig), and every process a container starts inherits MarkerEnv, by which
// stragglers that left the group (a Jupyter kernel starts its own session) are found and
// killed when the container ends. Linux only.
//
// As root, a container also cannot reach the volumes of its Pod it does not mount (a Secret
// only the publish sidecar mounts, the git credentials only prepare mounts): it runs in a user
// and mount namespace of its own in which their directories are covered by empty, locked
// mounts, and it holds no capability over the Pod's other processes (their /proc entries).
// The rest of the host stays as visible as to any host process.
package hostkubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/mlops-dev/nbv/internal/validationpod"
)

// MarkerEnv is set in every container process to "<pod UID>/<container name>"; the processes
// they start inherit it, which is how the package finds them again to kill them.
const MarkerEnv = "NBV_HOSTKUBELET_CONTAINER"

// DefaultPython is the interpreter handed to `nbv-runner execute`: the system one carries the
// Debian nbclient packages, unlike a pyenv python3 earlier on PATH.
const DefaultPython = "/usr/bin/python3"

// maxPods bounds how many Pods run at once: each notebook is a Python kernel, and the machine
// this stack targets has two cores. Pods beyond it stay Pending, as on a full node.
const maxPods = 2

// Options configure a Kubelet.
type Options struct {
	// RunnerBinary is the host path of a built nbv-runner; any container command named
	// nbv-runner (bare or under a mount such as /nbv/bin) runs it. Required.
	RunnerBinary string
	// WorkDir receives the per-pod volume directories, termination messages and logs. They
	// stay until the Pod is deleted, so the executed notebook and reports can be read.
	// Required.
	WorkDir string
	// Python is passed to `nbv-runner execute --python` unless the Pod sets one.
	// Default DefaultPython.
	Python string
	// NodeName is the node this kubelet claims to be, in its Events. Default: the host name.
	NodeName string
	// Namespace limits the kubelet to the validation Pods of one namespace, so that two
	// kubelets on one API server (tests, or `nbv run` next to them) never take each other's
	// Pods. Empty: every namespace, as a node's kubelet.
	Namespace string
	// Log receives one line per Pod transition. Default: slog.Default().
	Log *slog.Logger
}

// Kubelet runs validation Pods on the host. Create it with New, start it with Run.
type Kubelet struct {
	client    kubernetes.Interface
	clientErr error
	opts      Options
	log       *slog.Logger
	sem       chan struct{}

	mu sync.Mutex
	// seen holds every Pod UID taken on, so each Pod is handled once whatever the informer
	// replays; entries go when the Pod is deleted.
	seen map[types.UID]bool
	// running cancels the Pods whose processes are alive.
	running map[types.UID]context.CancelCauseFunc
	// byName holds the done channel of the last worker per namespace/name: a Pod recreated
	// under the same name reuses the same directories and must wait for its predecessor.
	byName  map[string]chan struct{}
	workers sync.WaitGroup
}

// New returns a Kubelet talking to the API server in cfg. A config that cannot make a
// client is reported by Run.
func New(cfg *rest.Config, opts Options) *Kubelet {
	var client kubernetes.Interface
	var err error
	if cfg == nil {
		err = errors.New("hostkubelet: rest config is nil")
	} else if client, err = kubernetes.NewForConfig(cfg); err != nil {
		err = fmt.Errorf("hostkubelet: kubernetes client: %w", err)
	}
	k := newKubelet(client, opts)
	k.clientErr = err
	return k
}

func newKubelet(client kubernetes.Interface, opts Options) *Kubelet {
	if opts.Python == "" {
		opts.Python = DefaultPython
	}
	if opts.NodeName == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			opts.NodeName = h
		} else {
			opts.NodeName = "localhost"
		}
	}
	// Containers may start from threads that no longer follow the working directory (hide):
	// every path the kubelet hands them is absolute.
	for _, p := range []*string{&opts.WorkDir, &opts.RunnerBinary} {
		if *p != "" {
			if abs, err := filepath.Abs(*p); err == nil {
				*p = abs
			}
		}
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	return &Kubelet{
		client:  client,
		opts:    opts,
		log:     log.With("component", "hostkubelet", "node", opts.NodeName),
		sem:     make(chan struct{}, maxPods),
		seen:    map[types.UID]bool{},
		running: map[types.UID]context.CancelCauseFunc{},
		byName:  map[string]chan struct{}{},
	}
}

// Run watches validation Pods and runs them until ctx is done. When it returns, every process
// it started has ended, and the Pods it was running are marked Failed as a kubelet does at
// node shutdown (DisruptionTarget condition), so their jobs retry them.
func (k *Kubelet) Run(ctx context.Context) error {
	if k.clientErr != nil {
		return k.clientErr
	}
	if err := k.checkOptions(); err != nil {
		return err
	}
	if err := os.MkdirAll(k.opts.WorkDir, 0o700); err != nil {
		return fmt.Errorf("hostkubelet: work directory: %w", err)
	}
	if err := platformSupported(); err != nil {
		return err
	}

	factory := informers.NewSharedInformerFactoryWithOptions(k.client, 0, informers.WithNamespace(k.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = validationpod.LabelJob }))
	informer := factory.Core().V1().Pods().Informer()
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.observe(ctx, obj) },
		UpdateFunc: func(_, obj any) { k.observe(ctx, obj) },
		DeleteFunc: k.forget,
	})
	if err != nil {
		return fmt.Errorf("hostkubelet: pod event handler: %w", err)
	}
	informerDone := make(chan struct{})
	go func() {
		defer close(informerDone)
		informer.Run(ctx.Done())
	}()
	// WaitForCacheSync only gives up when ctx ends, which is the way out below anyway.
	if cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		k.log.Info("watching validation pods", "workDir", k.opts.WorkDir, "runner", k.opts.RunnerBinary)
		if err := hideUnavailable(); err != nil {
			k.log.Warn("containers can see every volume of their pod, mounted or not (hiding needs root and namespaces)", "err", err)
		}
	}
	<-ctx.Done()
	<-informerDone
	// No handler runs any more, so no worker can be added behind the wait.
	k.workers.Wait()
	return nil
}

func (k *Kubelet) checkOptions() error {
	if k.opts.RunnerBinary == "" {
		return errors.New("hostkubelet: Options.RunnerBinary is required")
	}
	if k.opts.WorkDir == "" {
		return errors.New("hostkubelet: Options.WorkDir is required")
	}
	var err error
	if k.opts.RunnerBinary, err = filepath.Abs(k.opts.RunnerBinary); err != nil {
		return fmt.Errorf("hostkubelet: runner binary: %w", err)
	}
	if st, err := os.Stat(k.opts.RunnerBinary); err != nil {
		return fmt.Errorf("hostkubelet: runner binary: %w", err)
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("hostkubelet: runner binary %s is not an executable file", k.opts.RunnerBinary)
	}
	if k.opts.WorkDir, err = filepath.Abs(k.opts.WorkDir); err != nil {
		return fmt.Errorf("hostkubelet: work directory: %w", err)
	}
	return nil
}

// observe takes on a Pod the first time it is seen in a state a kubelet would start.
func (k *Kubelet) observe(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Labels[validationpod.LabelJob] == "" || ctx.Err() != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seen[pod.UID] {
		return
	}
	k.seen[pod.UID] = true
	switch {
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return // finished, by this kubelet before a restart or by someone else
	case pod.DeletionTimestamp != nil:
		return
	}
	key := pod.Namespace + "/" + pod.Name
	prev := k.byName[key]
	done := make(chan struct{})
	k.byName[key] = done
	// Registered before the worker waits for a slot, so deleting a queued Pod cancels it too.
	podCtx, cancel := context.WithCancelCause(ctx)
	k.running[pod.UID] = cancel
	pod = pod.DeepCopy()
	k.workers.Add(1)
	go func() {
		defer k.workers.Done()
		defer close(done)
		defer cancel(nil)
		if prev != nil {
			<-prev
		}
		if pod.Status.StartTime != nil {
			// A previous run of this kubelet started it and died without finishing it; its
			// processes died with it (Pdeathsig).
			k.abandoned(podCtx, pod)
		} else {
			k.runPod(podCtx, pod)
		}
		// One critical section with forget: either forget saw the worker running and left
		// the directory to it, or the worker sees the Pod deleted here.
		k.mu.Lock()
		delete(k.running, pod.UID)
		if k.byName[key] == done {
			delete(k.byName, key)
		}
		deleted := !k.seen[pod.UID]
		k.mu.Unlock()
		if deleted {
			k.removePodDir(pod)
		}
	}()
}

// forget kills a deleted Pod's processes; its directories go with it, as a kubelet unmounts a
// deleted Pod's volumes.
func (k *Kubelet) forget(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	delete(k.seen, pod.UID)
	cancel, running := k.running[pod.UID]
	// A newer Pod of the same name owns the directory now (and clears it before use).
	_, reused := k.byName[pod.Namespace+"/"+pod.Name]
	k.mu.Unlock()
	if running {
		cancel(errPodDeleted) // the worker removes the directory once its processes are gone
		return
	}
	if !reused {
		k.removePodDir(pod)
	}
}

func (k *Kubelet) removePodDir(pod *corev1.Pod) {
	if err := os.RemoveAll(k.podDir(pod)); err != nil {
		k.log.Warn("removing deleted pod's directory", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

func (k *Kubelet) podDir(pod *corev1.Pod) string {
	return filepath.Join(k.opts.WorkDir, pod.Namespace, pod.Name)
}
