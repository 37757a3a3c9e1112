// Package bench owns `nbv bench`: a load and chaos harness for the event path. It starts the
// real local stack (etcd + kube-apiserver with an audit log, every function a process of its
// stripped binary behind its activator, Knative's ApiServerSource adapters, the broker), plays
// everything outside nbv that moves a job (the kubelet, Tekton, OpenShift builds, an external CI
// system posting signed reports), creates N jobs of a planned mix with known outcomes, and
// measures from outside: an informer records when each state is first seen, the harness when
// it wrote the status that triggers the next hop, the audit log every API request of every
// function, /proc and wait4 the functions' CPU time. With faults on (SIGKILLed function
// processes, duplicated and reordered deliveries, dropped source events, a kube-apiserver
// restart) it checks the invariants every run must hold at the end.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/externalci"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/localstack"
	"github.com/mlops-dev/nbv/internal/local/optin"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// Options configure a run.
type Options struct {
	// Jobs is how many jobs the run creates (default 200).
	Jobs int
	// Mix weighs the kinds of job (default DefaultMix).
	Mix Mix
	// Interval paces the creations; zero creates them all at once (a burst, Creators at a time).
	Interval time.Duration
	// Creators is how many creations run at once in a burst (default 8).
	Creators int
	// BuildTime is how long a played build runs; RunTime how long a played notebook runs
	// (defaults 1 s and 2 s: a trivial notebook takes about 2 s, 1.6 of them to start its kernel).
	BuildTime, RunTime time.Duration
	// Faults is the chaos injected (none by default).
	Faults Faults
	// PingInterval is the sweep's schedule (default localstack's, a minute; 2 s when events
	// are dropped, so the sweep recovers them within the run).
	PingInterval time.Duration
	// Idle is the functions' scale-to-zero window (default localstack.DefaultIdle).
	Idle time.Duration
	// Warm starts one instance of every event function, and waits until each is ready,
	// before the first job; what that costs is kept out of the figures. Without it the run
	// starts from zero.
	Warm bool
	// Timeout bounds the whole run (default 15 minutes).
	Timeout time.Duration
	// RepoRoot is the checkout: config/, eventsources/, functions/ (default: found from the
	// working directory).
	RepoRoot string
	// FunctionsDir, when set, holds function binaries already built (tests build them once);
	// the sizes reported are then theirs. Empty: the run builds them stripped, as released.
	FunctionsDir string
	// Progress receives a line per stage; nil discards.
	Progress io.Writer
	// FunctionOutput, when set, receives the function processes' logs.
	FunctionOutput io.Writer
}

func (o *Options) setDefaults() error {
	if o.Jobs == 0 {
		o.Jobs = 200
	}
	if o.Jobs < 1 || o.Jobs > 100_000 {
		return fmt.Errorf("bench: %d jobs: want 1 to 100000", o.Jobs)
	}
	if o.Mix == nil {
		o.Mix = DefaultMix
	}
	if o.Creators <= 0 {
		o.Creators = 8
	}
	if o.BuildTime <= 0 {
		o.BuildTime = time.Second
	}
	if o.RunTime <= 0 {
		o.RunTime = 2 * time.Second
	}
	if o.Faults.Kill && o.Faults.KillEvery <= 0 {
		o.Faults.KillEvery = AllFaults.KillEvery
	}
	if o.Faults.Drop < 0 || o.Faults.Drop >= 1 {
		return fmt.Errorf("bench: drop %v: want a fraction from 0 to below 1", o.Faults.Drop)
	}
	if o.PingInterval <= 0 && o.Faults.Drop > 0 {
		o.PingInterval = 2 * time.Second
	}
	if o.Idle <= 0 {
		o.Idle = localstack.DefaultIdle
	}
	// A function that scales to zero between two jobs' events meets every job cold: warming it
	// at the start would change only the first job.
	if quiet := max(o.Interval, o.BuildTime, o.RunTime); o.Warm && o.Idle <= quiet {
		return fmt.Errorf("bench: warm with idle %s: a function may see no event for %s (the interval, a build, a notebook run) and scale to zero, so the run would not stay warm; give an idle window above that, or no warm-up",
			o.Idle, quiet)
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.RepoRoot == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if o.RepoRoot, err = controlplane.FindRepoRoot(wd); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	return nil
}

// benchNamespace is where the run's jobs live.
const benchNamespace = "nbv-bench"

// ciKey is the external CI's signing key in the run's namespace.
var ciKey = []byte("nbv-bench-ci-signing-key-0123456789abcdef")

// Run performs one benchmark run and returns its figures and invariants. It stops everything it
// started before returning; an error means the run could not be made (a broken invariant is
// not an error: see Result.Failed).
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	res := &Result{Config: configOf(opts), Machine: machineNow()}
	progress := func(format string, args ...any) { fmt.Fprintf(opts.Progress, format+"\n", args...) }

	binDir := opts.FunctionsDir
	if binDir == "" {
		dir, err := os.MkdirTemp("", "nbv-bench-functions-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(dir)
		progress("building the functions (stripped) ...")
		if err := buildFunctions(ctx, opts.RepoRoot, dir); err != nil {
			return nil, err
		}
		binDir = dir
	}
	var err error
	if res.sizes, err = binarySizes(opts.RepoRoot, binDir); err != nil {
		return nil, err
	}

	progress("starting the control plane (etcd + kube-apiserver, audit log on) ...")
	cp, err := controlplane.Start(ctx, controlplane.Options{RepoRoot: opts.RepoRoot,
		AuditUserGroups: []string{"system:serviceaccounts:" + optin.SystemNamespace}})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer cp.Stop()
	if err := prepareNamespace(ctx, cp); err != nil {
		return nil, err
	}
	auditFrom, err := cp.AuditOffset()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}

	r := &run{opts: opts, cp: cp, res: res, rec: newRecorder(Plan(opts.Jobs, opts.Mix))}
	if err := r.execute(ctx, binDir, progress); err != nil {
		return nil, err
	}
	functions, err := functionUsers(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	evs, err := r.runAudit(auditFrom, functions)
	if err != nil {
		return nil, err
	}
	r.analyse(evs, functions)
	res.Machine.LoadAfter = loadAverage()
	return res, nil
}

func prepareNamespace(ctx context.Context, cp *controlplane.ControlPlane) error {
	if err := cp.EnsureNamespace(ctx, benchNamespace); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: cisignature.DefaultSecretName, Namespace: benchNamespace},
		Data: map[string][]byte{cisignature.DefaultSecretKey: ciKey}}
	if _, err := kube.CoreV1().Secrets(benchNamespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("bench: CI key Secret: %w", err)
	}
	return nil
}

// run is one run in progress.
type run struct {
	opts Options
	cp   *controlplane.ControlPlane
	res  *Result
	rec  *recorder

	stack     *localstack.Stack
	proxy     *faultProxy
	killer    *killer
	stackErrs []error
	final     endState
	// warm is what the warm-up left (nil without Options.Warm).
	warm *warmUp
	// restarting is set while kube-apiserver restarts, and restartEnded (unix nanoseconds)
	// once it is back; the played CI reads them (nearRestart).
	restarting   atomic.Bool
	restartBegan atomic.Int64
	restartEnded atomic.Int64
}

// restartGrace is how long after a restart the played CI still takes a 401 for the restart's:
// a restarted kube-apiserver answers before its RBAC cache has synced and denies what it will
// allow a moment later, so the key Secret reads as forbidden (the /ci route's 401). A load
// balancer in front of a real control plane hides this window; the local stack has none.
const restartGrace = 30 * time.Second

// inRestartWindow reports whether t fell while kube-apiserver restarted or less than
// restartGrace after it came back (false when it was not restarted).
func (r *run) inRestartWindow(t time.Time) bool {
	began, ended := r.restartBegan.Load(), r.restartEnded.Load()
	return began != 0 && ended != 0 && !t.Before(time.Unix(0, began)) && t.Before(time.Unix(0, ended).Add(restartGrace))
}

// nearRestart reports whether kube-apiserver is restarting or came back less than
// restartGrace ago.
func (r *run) nearRestart() bool {
	if r.restarting.Load() {
		return true
	}
	ended := r.restartEnded.Load()
	return ended != 0 && time.Since(time.Unix(0, ended)) < restartGrace
}

// execute runs the stack, the harness and the jobs, and leaves in r what the analysis needs.
func (r *run) execute(ctx context.Context, binDir string, progress func(string, ...any)) error {
	opts := r.opts
	stackOpts := localstack.Options{Config: r.cp.RESTConfig(), RepoRoot: opts.RepoRoot, Namespace: benchNamespace,
		FunctionsDir: binDir, Pod: validationpod.Options{RunnerImage: "registry.example.com/nbv-runner:bench"},
		Idle: opts.Idle, PingInterval: opts.PingInterval, FunctionOutput: opts.FunctionOutput}
	if opts.Faults.Duplicate || opts.Faults.Drop > 0 {
		r.proxy = newFaultProxy(opts.Faults)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("bench: fault proxy: %w", err)
		}
		srv := &http.Server{Handler: r.proxy, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		stackOpts.SinkURL = "http://" + ln.Addr().String()
	}
	progress("starting the functions' activators, the broker and the event sources ...")
	stack, err := localstack.Start(ctx, stackOpts)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	r.stack = stack
	stopped := false
	defer func() {
		if !stopped {
			_ = stack.Stop(context.Background())
		}
	}()
	if r.proxy != nil {
		r.proxy.target.Store(&stack.BrokerURL)
	}
	if opts.Warm {
		progress("starting one instance of each event function ...")
		if r.warm, err = warmFunctions(ctx, r.cp, stack, opts.RepoRoot); err != nil {
			return err
		}
	}

	cfg := r.cp.RESTConfig()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	actCtx, stopActors := context.WithCancel(ctx)
	defer stopActors()
	act := &actors{ctx: actCtx, kube: kube, dyn: dyn, namespace: benchNamespace, rec: r.rec,
		buildTime: opts.BuildTime, runTime: opts.RunTime, ciURL: stack.FunctionURLs["build-status-changed"] + externalci.Path,
		ciKey: ciKey, http: &http.Client{Timeout: 70 * time.Second}, handled: map[string]bool{}, nearRestart: r.nearRestart}
	watchCtx, stopWatch := context.WithCancel(ctx)
	shutdownWatch, err := watchRun(watchCtx, kube, dyn, r.rec, act)
	defer func() {
		stopWatch()
		if shutdownWatch != nil {
			shutdownWatch()
		}
	}()
	if err != nil {
		return err
	}

	chaosCtx, stopChaos := context.WithCancel(ctx)
	defer stopChaos()
	var chaos sync.WaitGroup
	if opts.Faults.Kill {
		r.killer = &killer{killed: map[int]string{}}
		chaos.Go(func() { r.killer.run(chaosCtx, stack, opts.Faults.KillEvery) })
	}
	var created atomic.Int64
	halfway := make(chan struct{})
	if opts.Faults.RestartAPIServer {
		chaos.Go(func() { r.restartAt(chaosCtx, halfway) })
	}

	progress("creating %d jobs (%s, %s) ...", opts.Jobs, opts.Mix, pacing(opts))
	start := time.Now()
	jobsClient := dyn.Resource(v1alpha1.GroupVersionResource).Namespace(benchNamespace)
	createErr := createJobs(ctx, jobsClient, r.rec, opts, func() {
		if created.Add(1) == int64(opts.Jobs+1)/2 {
			close(halfway)
		}
	})
	if createErr == nil {
		createErr = r.waitTerminal(ctx, progress)
	}
	r.res.WallSeconds = time.Since(start).Seconds()
	stopChaos()
	chaos.Wait()
	if createErr != nil {
		return createErr
	}

	progress("all %d jobs terminal after %.1fs; collecting ...", opts.Jobs, r.res.WallSeconds)
	// Late duplicates still in flight find terminal jobs: let them land before the listing.
	time.Sleep(time.Second)
	if err := r.collect(ctx, kube, dyn); err != nil {
		return err
	}
	stopActors()
	act.wait()
	for _, err := range act.errors() {
		r.res.HarnessErrors = append(r.res.HarnessErrors, err.Error())
	}
	// The broker drains what is still queued: deliveries of updates to jobs already ended.
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancelStop()
	stopped = true
	stopping := time.Now()
	if err := stack.Stop(stopCtx); err != nil {
		r.stackErrs = flatten(err)
	}
	r.res.StopSeconds = time.Since(stopping).Seconds()
	if r.proxy != nil {
		r.proxy.close()
	}
	return nil
}

// runAudit is the audit log from auditFrom, without the warm-up's requests.
func (r *run) runAudit(auditFrom int64, functions map[string]string) ([]controlplane.AuditEvent, error) {
	evs, err := r.cp.ReadAudit(auditFrom)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if r.warm == nil {
		return evs, nil
	}
	fromWarm, err := r.cp.ReadAudit(r.warm.auditFrom)
	if err != nil {
		return nil, fmt.Errorf("bench: the audit log from the warm-up: %w", err)
	}
	fromRun, err := r.cp.ReadAudit(r.warm.auditTo)
	if err != nil {
		return nil, fmt.Errorf("bench: the audit log from the warm-up's end: %w", err)
	}
	return withoutWarmUp(evs, fromWarm, fromRun, functions), nil
}

// restartAt restarts kube-apiserver once half the jobs were created.
func (r *run) restartAt(ctx context.Context, halfway <-chan struct{}) {
	select {
	case <-ctx.Done():
		return
	case <-halfway:
	}
	began := time.Now()
	r.restartBegan.Store(began.UnixNano())
	r.restarting.Store(true)
	err := r.cp.RestartAPIServer(ctx, 5*time.Second)
	r.restartEnded.Store(time.Now().UnixNano())
	r.restarting.Store(false)
	r.res.restart = &Restart{AfterSeconds: time.Since(r.rec.firstCreated()).Seconds(), TookMs: float64(time.Since(began).Milliseconds())}
	if err != nil {
		r.res.restart.Error = err.Error()
	}
}

// waitTerminal waits until the watch has shown every job terminal, or ctx ends.
func (r *run) waitTerminal(ctx context.Context, progress func(string, ...any)) error {
	report := time.NewTicker(10 * time.Second)
	defer report.Stop()
	for {
		n, changed := r.rec.progress()
		if n >= r.opts.Jobs {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %d of %d jobs terminal when the run's time ran out: %w", n, r.opts.Jobs, ctx.Err())
		case <-report.C:
			progress("  %d of %d jobs terminal", n, r.opts.Jobs)
		case <-changed:
		}
	}
}

// collect lists the jobs and their children as they ended.
func (r *run) collect(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface) error {
	s := endState{plan: r.rec.planned(), jobs: map[string]*v1alpha1.NotebookValidationJob{}, records: r.rec.snapshot()}
	err := retry(ctx, func() error {
		list, err := dyn.Resource(v1alpha1.GroupVersionResource).Namespace(benchNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for i := range list.Items {
			j := &v1alpha1.NotebookValidationJob{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, j); err != nil {
				return errPermanent{fmt.Errorf("job %s: %w", list.Items[i].GetName(), err)}
			}
			s.jobs[j.Name] = j
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bench: list jobs: %w", err)
	}
	sel := metav1.ListOptions{LabelSelector: v1alpha1.LabelJob}
	err = retry(ctx, func() error {
		pods, err := kube.CoreV1().Pods(benchNamespace).List(ctx, sel)
		if err != nil {
			return err
		}
		s.children = s.children[:0]
		for _, p := range pods.Items {
			s.children = append(s.children, child{Kind: "Pod", Name: p.Name, JobLabel: p.Labels[v1alpha1.LabelJob], Owners: p.OwnerReferences})
		}
		for _, res := range []childapi.Resource{childapi.PipelineRuns, childapi.Builds, childapi.BuildConfigs, childapi.ImageStreams} {
			list, err := dyn.Resource(res.GVR).Namespace(benchNamespace).List(ctx, sel)
			if err != nil {
				return err
			}
			for _, o := range list.Items {
				s.children = append(s.children, childOf(res.Kind, &o))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bench: list children: %w", err)
	}
	r.final = s
	r.res.DeadLetters = len(r.stack.Broker.DeadLetters())
	return nil
}

func childOf(kind string, o *unstructured.Unstructured) child {
	return child{Kind: kind, Name: o.GetName(), JobLabel: o.GetLabels()[v1alpha1.LabelJob], Owners: o.GetOwnerReferences()}
}

// createJobs creates the planned jobs, paced by opts.Interval or in a burst of opts.Creators at
// a time, calling done after each.
func createJobs(ctx context.Context, client dynamic.ResourceInterface, rec *recorder, opts Options, done func()) error {
	plan := rec.planned()
	work := make(chan Planned)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	workers := opts.Creators
	if opts.Interval > 0 {
		workers = 1
	}
	for range workers {
		wg.Go(func() {
			for p := range work {
				if err := createJob(ctx, client, rec, p); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				done()
			}
		})
	}
	for i, p := range plan {
		if i > 0 && opts.Interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(opts.Interval):
			}
		}
		if ctx.Err() != nil {
			break
		}
		work <- p
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("bench: creating jobs: %w", errors.Join(errs...))
	}
	return ctx.Err()
}

func createJob(ctx context.Context, client dynamic.ResourceInterface, rec *recorder, p Planned) error {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p.Job(benchNamespace))
	if err != nil {
		return err
	}
	rec.created(p.Name, time.Now())
	return retry(ctx, func() error {
		_, err := client.Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // an earlier attempt was created after all
		}
		if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
			return errPermanent{err}
		}
		return err
	})
}

func pacing(o Options) string {
	if o.Interval > 0 {
		return "one every " + o.Interval.String()
	}
	return fmt.Sprintf("a burst, %d creations at a time", o.Creators)
}

// flatten lists the errors errors.Join put together.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
