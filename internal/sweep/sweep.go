// Package sweep is the behaviour of the sweep function, the safety net of DESIGN principle 5.
// A PingSource wakes it every minute; it lists the jobs that are not finished and, for each,
// makes the one observation a lost event would have carried, then lets the same executor the
// event functions use decide and write (internal/transition):
//
//   - a job past statemachine.Deadline whose child is not finished (or that has none) is
//     observed as DeadlinePassed: it fails and its children are deleted. This is the only
//     enforcement of an external build's timeout, and of a job stuck before its child existed.
//   - ValidationRunning: the current pod is read; a finished or missing pod is observed with
//     observe.Pod exactly as pod-completed would (a finished pod's own result wins over the
//     deadline: the kubelet enforced the timeout and recorded how the pod ended).
//   - "", Initializing, BuildComplete and the legacy phases: JobSeen, as job-created would.
//   - Building with a build child: the child is observed through Options.Builds, when set.
//   - a finished job whose GitOps hooks are still pending a minute after it ended (its
//     terminal event was lost): they are performed through Options.Hooks, when set.
//
// Only jobs in the namespaces that opted in are swept (Options.NamespaceSelector, the label the
// event sources select), or in the one Options.Namespace. A namespace with the label whose
// jobs the sweep may not touch (the RoleBindings of config/rbac/opt-in/ were not applied) is
// reported with a Warning Event NotBound on the Namespace (notbound.go).
//
// A job never gets more than one transition per sweep, and a sweep examines at most
// Options.MaxJobs jobs (see schedule for how the window rotates). The ping's data is not used:
// a ping only says "now", and a forged one can at worst cause one extra bounded sweep. Two
// sweeps running at once (overlapping pings, several replicas) are safe for the same reason
// two deliveries of an event are: the status write is guarded by resourceVersion, and the
// effects are idempotent.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/gitopshooks"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/metrics"
	"github.com/mlops-dev/nbv/internal/observe"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/transition"
)

// EventTypes are the CloudEvent types this function accepts.
var EventTypes = []string{events.TypePing}

// Defaults of Options.
const (
	DefaultMaxJobs = 200
	// DefaultNamespaceSelector selects the namespaces that opted in, the same label the event
	// sources select (eventsources/*.yaml): a job elsewhere belongs to someone else (the
	// previous operator, say), and the sweep must not move it.
	DefaultNamespaceSelector = v1alpha1.OptInLabel + "=" + v1alpha1.OptInValue
	// EventNamespace is where the sweep records Events about namespaces. The API server
	// accepts an Event about a cluster-scoped object only in "default" (as the kubelet's about
	// Nodes), and config/rbac/functions.yaml lets the sweep create Events there and nowhere
	// else outside opted-in namespaces.
	EventNamespace = "default"
	// listFactor bounds the listing: at most listFactor*MaxJobs jobs are listed per sweep.
	listFactor = 10
	// maxPage is the largest page asked of the API server.
	maxPage = 500
)

// Environment variables read by OptionsFromEnv.
const (
	EnvMaxJobs           = "NBV_SWEEP_MAX_JOBS"
	EnvNamespace         = "NBV_SWEEP_NAMESPACE"
	EnvNamespaceSelector = "NBV_SWEEP_NAMESPACE_SELECTOR"
)

// BuildObserver reads a Building job's build child (a PipelineRun or an OpenShift Build) and
// returns the observation build-status-changed would make of it.
type BuildObserver interface {
	ObserveBuild(ctx context.Context, job *v1alpha1.NotebookValidationJob) (statemachine.Observation, error)
}

// Options configure a Sweeper. The zero value sweeps every opted-in namespace, at most
// DefaultMaxJobs jobs per ping, without reading build children.
type Options struct {
	// Namespace confines the sweep to one namespace. Empty: every namespace matching
	// NamespaceSelector.
	Namespace string
	// NamespaceSelector is a label selector of the namespaces swept when Namespace is empty.
	// Empty means DefaultNamespaceSelector.
	NamespaceSelector string
	// MaxJobs bounds the jobs examined per sweep. Zero or less means DefaultMaxJobs.
	MaxJobs int
	// Builds observes build children. Nil: a Building job is only checked against its
	// deadline (nothing else is known about it without reading the child).
	Builds BuildObserver
	// ReplayLeases deletes the external-CI route's expired replay-guard Leases in each swept
	// namespace. Nil: they are left.
	ReplayLeases LeaseCollector
	// Hooks performs the GitOps hooks of finished jobs whose hooks are still pending (their
	// terminal event was lost). Nil: they are left to job-created.
	Hooks *gitopshooks.Runner
	// Runs looks, as job-created does, for the earlier run a job that asks for reuse may take
	// the verdict of (jobcreated.RunFinder). Nil: such a job is left to job-created.
	Runs ReuseChecker
}

// ReuseChecker finds what Observation.Reuse carries for a job about to start.
type ReuseChecker interface {
	Check(ctx context.Context, job *v1alpha1.NotebookValidationJob) (*statemachine.ReuseCheck, error)
}

// LeaseCollector deletes what expired in a namespace before now and says how much
// (cisignature.LeaseStore).
type LeaseCollector interface {
	CollectExpired(ctx context.Context, namespace string, now time.Time) (int, error)
}

// OptionsFromEnv reads NBV_SWEEP_MAX_JOBS (a positive integer, default 200),
// NBV_SWEEP_NAMESPACE (default: every opted-in namespace) and NBV_SWEEP_NAMESPACE_SELECTOR
// (default DefaultNamespaceSelector).
func OptionsFromEnv() (Options, error) {
	o := Options{Namespace: os.Getenv(EnvNamespace), NamespaceSelector: os.Getenv(EnvNamespaceSelector)}
	if v := os.Getenv(EnvMaxJobs); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return Options{}, fmt.Errorf("%s %q is not a positive integer", EnvMaxJobs, v)
		}
		o.MaxJobs = n
	}
	if o.NamespaceSelector != "" {
		// Checked here so a typo stops the deployment instead of failing every ping.
		if _, err := labels.Parse(o.NamespaceSelector); err != nil {
			return Options{}, fmt.Errorf("%s %q: %w", EnvNamespaceSelector, o.NamespaceSelector, err)
		}
	}
	return o, nil
}

// Sweeper runs sweeps. It is safe for concurrent use.
type Sweeper struct {
	x     *transition.Executor
	store *jobstore.Store
	opts  Options
}

// New builds a Sweeper that transitions jobs with x (whose Now is the sweep's clock) and reads
// jobs, namespaces and pods with store.
func New(x *transition.Executor, store *jobstore.Store, opts Options) *Sweeper {
	if opts.MaxJobs <= 0 {
		opts.MaxJobs = DefaultMaxJobs
	}
	if opts.NamespaceSelector == "" {
		opts.NamespaceSelector = DefaultNamespaceSelector
	}
	return &Sweeper{x: x, store: store, opts: opts}
}

// Handler answers ping events with one sweep each: 202 when the sweep ran (whatever happened to
// single jobs, which the log reports), a 5xx when the jobs could not be listed.
func Handler(x *transition.Executor, store *jobstore.Store, opts Options) function.Handler {
	s := New(x, store, opts)
	return func(ctx context.Context, e cloudevents.Event) (*cloudevents.Event, error) {
		if e.Type() != events.TypePing {
			return nil, fmt.Errorf("%w: sweep handles %s events, got %q", function.ErrBadInput, events.TypePing, e.Type())
		}
		_, err := s.Sweep(ctx)
		return nil, err
	}
}

// Result counts what one sweep did.
type Result struct {
	Listed      int  // non-terminal jobs listed in the swept namespaces
	Truncated   bool // the listing stopped at its bound; later jobs were not seen
	Examined    int  // jobs examined (at most MaxJobs)
	Transitions int  // jobs written
	Errors      int  // jobs whose examination failed; the next ping tries again
	Interrupted bool // the context ended before every scheduled job was examined
	// LeasesDeleted counts the expired replay-guard Leases removed.
	LeasesDeleted int
	// HooksDone counts the finished jobs whose pending GitOps hooks this sweep performed.
	HooksDone int
	// NotBound counts the swept namespaces where the sweep was refused (reported NotBound).
	NotBound int
}

// Sweep lists the non-terminal jobs, examines those schedule picks, and makes at most one
// transition of each. It fails only when the jobs cannot be listed; an error on one job is
// logged and counted, and the others are still examined.
func (s *Sweeper) Sweep(ctx context.Context) (Result, error) {
	started := time.Now()
	// Taken before the executor names jobs on ctx, so the summary line names none.
	log := function.Logger(ctx)
	var res Result
	swept, err := s.namespaces(ctx)
	if err != nil {
		return res, fmt.Errorf("sweep: %w", err)
	}
	namespaces := make([]string, 0, len(swept))
	for _, ns := range swept {
		namespaces = append(namespaces, ns.Name)
	}
	refused := map[string]error{}
	jobs, truncated, err := s.list(ctx, namespaces, jobstore.NotTerminal, listFactor*s.opts.MaxJobs)
	if err != nil {
		return res, fmt.Errorf("sweep: %w", err)
	}
	res.Listed, res.Truncated = len(jobs), truncated
	recordListed(ctx, jobs, s.now())
	for _, job := range schedule(jobs, s.now(), s.opts.MaxJobs, s.opts.Builds != nil) {
		if ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		res.Examined++
		written, err := s.examine(ctx, job)
		if err != nil {
			res.Errors++
			if forbiddenOnJobs(err) {
				refused[job.Namespace] = err
			}
			log.Warn("sweep: examining job failed; the next ping tries again",
				"job.namespace", job.Namespace, "job.name", job.Name, "phase", job.Status.Phase, "error", err)
			continue
		}
		if written {
			res.Transitions++
		}
	}
	res.LeasesDeleted = s.collectLeases(ctx, namespaces, log)
	res.HooksDone = s.performHooks(ctx, namespaces, log)
	res.NotBound = s.reportNotBound(ctx, swept, refused, log)
	level := slog.LevelInfo
	if res.Errors > 0 || res.Truncated || res.Interrupted {
		level = slog.LevelWarn
	}
	log.Log(ctx, level, "sweep done", "listed", res.Listed, "truncated", res.Truncated, "examined", res.Examined,
		"transitions", res.Transitions, "errors", res.Errors, "interrupted", res.Interrupted, "leases_deleted", res.LeasesDeleted, "hooks_done", res.HooksDone, "not_bound", res.NotBound,
		"duration_ms", float64(time.Since(started).Microseconds())/1000)
	return res, nil
}

// namespaces returns the swept namespaces: the configured one (only its name is known), or
// those matching the selector.
func (s *Sweeper) namespaces(ctx context.Context) ([]corev1.Namespace, error) {
	if s.opts.Namespace != "" {
		return []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: s.opts.Namespace}}}, nil
	}
	return s.store.ListNamespaces(ctx, s.opts.NamespaceSelector)
}

// collectLeases deletes expired replay-guard Leases in namespaces; failures are logged, since
// a Lease left behind only costs storage until the next sweep.
func (s *Sweeper) collectLeases(ctx context.Context, namespaces []string, log *slog.Logger) int {
	if s.opts.ReplayLeases == nil {
		return 0
	}
	deleted := 0
	for _, ns := range namespaces {
		n, err := s.opts.ReplayLeases.CollectExpired(ctx, ns, s.now())
		deleted += n
		if err != nil {
			log.Warn("sweep: deleting expired replay-guard Leases failed", "namespace", ns, "error", err)
		}
	}
	return deleted
}

// list returns the jobs of namespaces matching fieldSelector, in the API server's order, at
// most bound of them (truncated says the bound cut the listing short).
func (s *Sweeper) list(ctx context.Context, namespaces []string, fieldSelector string, bound int) (_ []v1alpha1.NotebookValidationJob, truncated bool, _ error) {
	if len(namespaces) == 0 {
		return nil, false, nil
	}
	var allowed map[string]bool
	if s.opts.Namespace == "" {
		allowed = make(map[string]bool, len(namespaces))
		for _, n := range namespaces {
			allowed[n] = true
		}
	}
	var jobs []v1alpha1.NotebookValidationJob
	cont := ""
	for {
		page, next, err := s.store.List(ctx, s.opts.Namespace, fieldSelector, int64(min(bound, maxPage)), cont)
		if err != nil {
			return nil, false, err
		}
		for _, job := range page {
			if allowed == nil || allowed[job.Namespace] {
				jobs = append(jobs, job)
			}
		}
		if next == "" {
			return jobs, false, nil
		}
		if len(jobs) >= bound {
			return jobs[:bound], true, nil
		}
		cont = next
	}
}

// errNothingToDo says the fresh job needs no observation from the sweep; it never leaves
// examine.
var errNothingToDo = errors.New("nothing for the sweep to observe")

// examine makes at most one transition of the listed job and reports whether it wrote. The
// listed state decides whether the job is worth a transition at all (a running pod costs one
// GET and no write); the executor then re-reads the job and the same choice is made again
// from that fresh state.
func (s *Sweeper) examine(ctx context.Context, listed *v1alpha1.NotebookValidationJob) (bool, error) {
	final := &finalState{pods: map[string]*corev1.Pod{}}
	if _, err := s.observation(ctx, listed, final); err != nil {
		if errors.Is(err, errNothingToDo) {
			return false, nil
		}
		return false, err
	}
	var seen statemachine.Observation
	var read *v1alpha1.NotebookValidationJob
	out, err := s.x.Run(ctx, listed.Namespace, listed.Name, func(ctx context.Context, job *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
		obs, err := s.observation(ctx, job, final)
		seen, read = obs, job
		return obs, err
	})
	if errors.Is(err, errNothingToDo) {
		return false, nil
	}
	if out.Written {
		metrics.RecordSweepRecovery(ctx, out.PreviousPhase, recoveryCause(read, seen, s.now()))
	}
	if err == nil {
		// A job the sweep accepted (its add event was lost) is started at once, as job-created
		// would have: the event of the accepting write is nothing to do for job-created.
		_, err = s.x.TakeOver(ctx, out, listed.Namespace, listed.Name, func(ctx context.Context, job *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
			return s.observation(ctx, job, final)
		})
		if errors.Is(err, errNothingToDo) {
			err = nil
		}
	}
	return out.Written, err
}

// inFlight is how long after a state appeared its event may still be on its way: delivery
// takes milliseconds, a function's cold start seconds (p50 1.1 s, max 3.8 s on the e2e node).
const inFlight = 30 * time.Second

// recoveryCause says why the sweep had to move job with obs at now: a deadline nobody else
// enforced; or an event that was lost, unless the state it would have announced (the job's
// phase, for JobSeen; the build's end) is younger than inFlight, when the sweep merely got
// there first and nothing was lost. A pod's end carries no time here and counts as lost.
func recoveryCause(job *v1alpha1.NotebookValidationJob, obs statemachine.Observation, now time.Time) string {
	var since time.Time
	switch obs.Kind {
	case statemachine.DeadlinePassed:
		return metrics.CauseDeadline
	case statemachine.JobSeen:
		since, _ = statemachine.PhaseStart(job)
	case statemachine.BuildSucceeded, statemachine.BuildFailed, statemachine.BuildCancelled, statemachine.BuildTimedOut:
		if obs.BuildCompleted != nil {
			since = obs.BuildCompleted.Time
		}
	}
	if !since.IsZero() && now.Sub(since) < inFlight {
		return metrics.CauseInFlight
	}
	return metrics.CauseLostEvent
}

// unfinishedPhases are the phases the sweep lists (jobstore.NotTerminal), each recorded even
// when no job is in it, so that a dashboard shows 0 rather than no data.
var unfinishedPhases = []string{v1alpha1.PhaseNone, v1alpha1.PhaseInitializing, v1alpha1.PhaseBuilding,
	v1alpha1.PhaseBuildComplete, v1alpha1.PhaseValidationRunning, v1alpha1.PhasePending, v1alpha1.PhaseRunning}

// recordListed records the listed jobs by phase, and how many are past their deadline.
func recordListed(ctx context.Context, jobs []v1alpha1.NotebookValidationJob, now time.Time) {
	active, overdue := map[string]int{}, map[string]int{}
	for i := range jobs {
		phase := jobs[i].Status.Phase
		active[phase]++
		if pastDeadline(&jobs[i], now) {
			overdue[phase]++
		}
	}
	for _, phase := range unfinishedPhases {
		metrics.RecordJobsListed(ctx, phase, active[phase], overdue[phase])
	}
}

// observation chooses the sweep's one observation of job (see the package documentation), or
// errNothingToDo. Now is left for the executor to fill in from the same clock.
func (s *Sweeper) observation(ctx context.Context, job *v1alpha1.NotebookValidationJob, final *finalState) (statemachine.Observation, error) {
	overdue := pastDeadline(job, s.now())
	switch job.Status.Phase {
	case v1alpha1.PhaseValidationRunning:
		name := job.Status.ValidationPodName
		if name == "" {
			// Nothing to read: only the deadline can end such a job.
			break
		}
		pod, err := s.pod(ctx, job, name, final)
		if err != nil {
			return statemachine.Observation{}, err
		}
		obs := observe.Pod(name, pod)
		switch obs.Kind {
		case statemachine.PodSucceeded, statemachine.PodFailed, statemachine.PodTimedOut:
			// A result wins over the deadline: the kubelet enforced the timeout itself and
			// recorded how the pod ended.
			return obs, nil
		case statemachine.PodInfraFailed:
			// Lost to the infrastructure (or gone): retried, unless the attempt is out of
			// time, when a retry would only start a new deadline.
			if !overdue {
				return obs, nil
			}
		}
		// Pending or running: pod-completed hears about it when it ends, unless the deadline
		// passed without the kubelet ending it (it never started, or its node is gone).
	case v1alpha1.PhaseBuilding:
		if s.opts.Builds == nil || !childBuild(job) {
			break
		}
		if final.build != nil {
			return *final.build, nil
		}
		obs, err := s.opts.Builds.ObserveBuild(ctx, job)
		if err != nil {
			return statemachine.Observation{}, fmt.Errorf("observe build: %w", err)
		}
		switch obs.Kind {
		case statemachine.BuildSucceeded, statemachine.BuildFailed, statemachine.BuildCancelled, statemachine.BuildTimedOut:
			final.build = &obs
			return obs, nil // the build system's own outcome wins over the deadline
		case statemachine.BuildPending, statemachine.BuildRunning:
			// Not finished: build-status-changed hears about it when it ends.
		default:
			if !overdue {
				return obs, nil
			}
		}
	case v1alpha1.PhaseNone, v1alpha1.PhaseInitializing, v1alpha1.PhaseBuildComplete,
		v1alpha1.PhasePending, v1alpha1.PhaseRunning:
		if !overdue {
			obs := statemachine.Observation{Kind: statemachine.JobSeen}
			if s.opts.Runs != nil {
				check, err := s.opts.Runs.Check(ctx, job)
				if err != nil {
					return statemachine.Observation{}, err
				}
				obs.Reuse = check
			}
			return obs, nil
		}
	}
	if overdue {
		return statemachine.Observation{Kind: statemachine.DeadlinePassed}, nil
	}
	return statemachine.Observation{}, errNothingToDo
}

// finalState remembers, for one job's examination, the children read in a state that cannot
// change any more, so re-deciding with the fresh job costs no second GET: pods in phase
// Succeeded or Failed, or gone (a job's pod names are never reused), and a finished (or
// deleted) build child (a job has one, deterministically named). Anything else is read again.
type finalState struct {
	pods  map[string]*corev1.Pod
	build *statemachine.Observation
}

// pod reads the job's pod name; nil when it does not exist. A pod of that name that the job
// does not control is not the job's pod, and nothing can be decided from it.
func (s *Sweeper) pod(ctx context.Context, job *v1alpha1.NotebookValidationJob, name string, final *finalState) (*corev1.Pod, error) {
	if pod, ok := final.pods[name]; ok {
		return pod, nil
	}
	pod, err := s.store.GetPod(ctx, job.Namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		final.pods[name] = nil
		return nil, nil
	case err != nil:
		return nil, err
	case !metav1.IsControlledBy(pod, job):
		return nil, fmt.Errorf("pod %s/%s is not controlled by job %s", job.Namespace, name, job.Name)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		final.pods[name] = pod
	}
	return pod, nil
}

func (s *Sweeper) now() time.Time {
	if s.x.Now != nil {
		return s.x.Now()
	}
	return time.Now()
}
