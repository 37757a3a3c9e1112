// Package transition performs one state-machine step for a job, the same way for every
// function: start from the job (read fresh, or a copy whose write checks it: the event's own
// copy, or the API server's answer to this process's last write), turn what the function sees
// into an observation, decide with internal/statemachine, perform the decision's side effect
// idempotently, write the status, its texts cleaned and bounded by internal/statustext, with a
// guarded patch (re-reading and re-deciding when it is refused, bounded), then record a
// Kubernetes Event (except for the quiet transitions) and build the reply CloudEvent. A copy
// that was not read fresh decides a plain status write only: a child, an end or "nothing to
// do" from a remembered answer is decided again from the job read fresh. A step that only
// accepted the job goes on to start it from the API server's answer (TakeOver). A decision
// that ends the job first records its notification Event (internal/gitops), once, and marks
// the GitOps hooks its annotations ask for Pending (internal/gitopshooks performs them).
// Functions differ only in how they observe. Steps of one job in one process run one at a
// time, so that two events about it delivered together do not both write from the job's same
// resourceVersion.
package transition

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/events"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/gitops"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/statustext"
	"github.com/mlops-dev/nbv/internal/tracing"
)

// MaxAttempts bounds the re-read/re-decide rounds after a 409 before the event is answered
// with a 5xx and redelivered by the broker.
const MaxAttempts = 3

// Effects performs the side effects decisions ask for. Every method must be idempotent: after a
// 409 the step runs again. A failure the job's spec causes (retrying cannot help) is wrapped
// with Permanent or NameTaken, or classified by CreateFailure.
type Effects interface {
	CreateValidationPod(ctx context.Context, job *v1alpha1.NotebookValidationJob, podName, image string) error
	CreateBuild(ctx context.Context, job *v1alpha1.NotebookValidationJob) error
	DeleteChildren(ctx context.Context, job *v1alpha1.NotebookValidationJob) error
}

// Observer turns the fresh job (and whatever else the function reads) into an observation. It
// runs again after every re-read. Now is filled in by the Executor when left zero.
type Observer func(ctx context.Context, job *v1alpha1.NotebookValidationJob) (statemachine.Observation, error)

// Executor runs steps. Its zero Now means time.Now.
type Executor struct {
	Store   *jobstore.Store
	Effects Effects
	// Source is the reply events' source, e.g. "/nbv/job-created".
	Source string
	Now    func() time.Time

	written written
	serial  serial
}

// Outcome is what one Step did.
type Outcome struct {
	Job           *v1alpha1.NotebookValidationJob // as written (or as last read when nothing was written)
	PreviousPhase string
	Decision      statemachine.Decision
	Written       bool
	// PhaseSince is when the job entered PreviousPhase (statemachine.PhaseStart); zero when
	// its status does not say. ObservedReason is the reason of the observation decided on
	// (for a pod, the runner's summary reason). Both feed metrics.
	PhaseSince     time.Time
	ObservedReason string
}

// Step makes at most one transition of the job namespace/name and returns the reply event
// (nil when nothing changed). A job that no longer exists is not an error: nothing to do.
//
// When this process wrote the job before, the step starts from the API server's answer to
// that write instead of reading (a build's running, then its success): the status write is
// guarded by its resourceVersion, so a job that has moved on since answers 409 and is read
// fresh. Only a plain status write is decided from that copy: nothing to do, a child to create
// or delete, or an end (its notification Event is recorded before the write) is decided from
// the job read fresh, since the remembered copy may be behind.
func (e *Executor) Step(ctx context.Context, namespace, name string, observe Observer) (*cloudevents.Event, error) {
	unlock := e.serial.lock(namespace, name)
	defer unlock()
	return e.step(ctx, jobstore.Start{Job: e.written.latest(namespace, name)}, remembered, namespace, name, observe)
}

// StepFrom is Step for an event that carried the job, seen, decoded from its object. When
// this executor's last write of the job left it at exactly seen's resourceVersion, the step
// decides from the API server's answer to that write. Otherwise it decides from seen itself,
// with no read before: the status write then holds only if the API server has exactly that
// copy (jobstore.Store.PatchStatusFromCopy), so a forged or outdated copy writes nothing and
// the job is read fresh. A child is never created or deleted, and a job never ended, from the
// event's copy: those decisions are made again from the job read fresh.
func (e *Executor) StepFrom(ctx context.Context, seen jobstore.Carried, observe Observer) (*cloudevents.Event, error) {
	namespace, name := seen.Job.Namespace, seen.Job.Name
	unlock := e.serial.lock(namespace, name)
	defer unlock()
	start, t := jobstore.Start{Job: e.written.at(namespace, name, seen.Job.ResourceVersion)}, answered
	if start.Job == nil && seen.Job.ResourceVersion != "" {
		start, t = jobstore.Start{Carried: &seen}, carried
	}
	return e.step(ctx, start, t, namespace, name, observe)
}

// step runs the step from start, takes over a job it only accepted, and builds the reply.
func (e *Executor) step(ctx context.Context, start jobstore.Start, t trust, namespace, name string, observe Observer) (*cloudevents.Event, error) {
	out, err := e.run(ctx, start, t, namespace, name, observe)
	if err == nil {
		out, err = e.takeOver(ctx, out, namespace, name, observe)
	}
	if err != nil || !out.Written {
		return nil, err
	}
	return e.reply(out), nil
}

// TakeOver continues a step whose write only accepted the job (statemachine.Accepted): the
// job's start is decided at once from the API server's answer to that write, so the event the
// write brings has nothing left to do (job-created answers it from its own object), and the
// job's first child is created one event sooner. It returns the start's outcome, or out when
// the start wrote nothing. An error leaves the job accepted: the caller's event, answered
// with it, is delivered again and starts the job then.
func (e *Executor) TakeOver(ctx context.Context, out Outcome, namespace, name string, observe Observer) (Outcome, error) {
	unlock := e.serial.lock(namespace, name)
	defer unlock()
	return e.takeOver(ctx, out, namespace, name, observe)
}

func (e *Executor) takeOver(ctx context.Context, out Outcome, namespace, name string, observe Observer) (Outcome, error) {
	if !out.Written || !statemachine.Accepted(out.Job) {
		return out, nil
	}
	next, err := e.run(ctx, jobstore.Start{Job: out.Job}, answered, namespace, name, observe)
	if err != nil || !next.Written {
		return out, err
	}
	return next, nil
}

// Run is Step without the reply event, for callers that report differently (the sweep). It
// always reads the job fresh, and leaves a job it accepted to the caller's TakeOver.
func (e *Executor) Run(ctx context.Context, namespace, name string, observe Observer) (Outcome, error) {
	unlock := e.serial.lock(namespace, name)
	defer unlock()
	return e.run(ctx, jobstore.Start{}, answered, namespace, name, observe)
}

// trust is what a copy of the job a step starts from may decide.
type trust int

const (
	// answered: read fresh, or the API server's answer to this process's write at the very
	// version the event names. It decides anything.
	answered trust = iota
	// carried: the job as an event carried it, checked by the write itself. It decides a plain
	// status write, or nothing to do (a later state brings its own event).
	carried
	// remembered: the API server's answer to this process's last write, maybe behind. It
	// decides a plain status write only.
	remembered
)

// run makes the step from start (see jobstore.Store.TransitionFrom), trusted as t says; a
// decision that start's copy may not make reads the job fresh and decides again.
func (e *Executor) run(ctx context.Context, start jobstore.Start, t trust, namespace, name string, observe Observer) (Outcome, error) {
	ctx = function.WithJob(ctx, namespace, name)
	var out Outcome
	var observed statemachine.Observation
	seen := func(ctx context.Context, job *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
		obs, err := observe(ctx, job)
		observed = obs
		return obs, err
	}
	first := start != jobstore.Start{}
	job, written, err := e.Store.TransitionFrom(ctx, start, namespace, name, MaxAttempts, func(ctx context.Context, job *v1alpha1.NotebookValidationJob) (*v1alpha1.NotebookValidationJobStatus, error) {
		jobTrust := answered
		if first {
			jobTrust = t
		}
		first = false
		d, err := e.decide(ctx, job, seen, jobTrust)
		if err != nil || !d.Changed {
			out = Outcome{}
			return nil, err
		}
		// Every text written passes here: the status, and through it the Event and the reply.
		statustext.Status(&d.Status)
		if err := e.notify(ctx, job, d); err != nil {
			return nil, err
		}
		// Performed after this write (job-created, or the sweep when its event is lost).
		gitops.MarkPending(job, &d.Status)
		since, _ := statemachine.PhaseStart(job)
		out = Outcome{PreviousPhase: job.Status.Phase, Decision: d, PhaseSince: since, ObservedReason: observed.Reason}
		trace.SpanFromContext(ctx).SetAttributes(attribute.String(tracing.AttrFrom, job.Status.Phase),
			attribute.String(tracing.AttrTo, d.Status.Phase), attribute.String(tracing.AttrReason, d.Reason),
			attribute.String(tracing.AttrEffect, string(d.Effect)))
		return &d.Status, nil
	})
	switch {
	case errors.Is(err, jobstore.ErrJobNotFound):
		function.Logger(ctx).Info("job no longer exists; nothing to do")
		return Outcome{}, nil
	case errors.Is(err, jobstore.ErrConflict):
		return Outcome{}, fmt.Errorf("%w: %w", function.ErrConflict, err)
	case err != nil:
		return Outcome{}, err
	}
	out.Job, out.Written = job, written
	if written {
		e.written.put(job)
		e.report(ctx, out)
	}
	return out, nil
}

// decide observes, decides, and performs the decision's effect. When the effect fails
// permanently it decides again with the matching start-failure observation, so the job fails
// with the reason in one write instead of the event retrying forever. A decision that job,
// trusted as t says, may not make is jobstore.ErrReadFresh.
func (e *Executor) decide(ctx context.Context, job *v1alpha1.NotebookValidationJob, observe Observer, t trust) (statemachine.Decision, error) {
	obs, err := observe(ctx, job)
	if err != nil {
		return statemachine.Decision{}, err
	}
	if obs.Now.IsZero() {
		obs.Now = metav1.NewTime(e.now())
	}
	// Cleaned before deciding too, so that the machine compares what it would store with what
	// is stored (a build's progress message), and a dirty text never looks like a change.
	obs.Reason = statustext.Clean(obs.Reason, statustext.MaxReason)
	obs.Message = statustext.Clean(obs.Message, statustext.MaxMessage)
	d := statemachine.Decide(job, obs)
	if !mayDecide(t, d) {
		return statemachine.Decision{}, jobstore.ErrReadFresh
	}
	if !d.Changed {
		return d, nil
	}
	err = e.perform(ctx, job, d)
	if err == nil {
		return d, nil
	}
	if !errors.Is(err, ErrPermanent) {
		return statemachine.Decision{}, fmt.Errorf("%s: %w", d.Effect, err)
	}
	failed := statemachine.Observation{Now: obs.Now, StartFailure: startFailure(err), Message: err.Error(), PodName: d.PodName}
	switch d.Effect {
	case statemachine.EffectCreateValidationPod:
		failed.Kind = statemachine.PodStartFailed
	case statemachine.EffectCreateBuild:
		failed.Kind = statemachine.BuildStartFailed
	default:
		return statemachine.Decision{}, fmt.Errorf("%s: %w", d.Effect, err)
	}
	function.Logger(ctx).Warn("side effect failed permanently; failing the job", "effect", d.Effect, "error", err)
	return statemachine.Decide(job, failed), nil
}

// mayDecide reports whether a job trusted as t may decide d without being read fresh.
func mayDecide(t trust, d statemachine.Decision) bool {
	switch {
	case t == answered:
		return true
	case !d.Changed:
		// An event's copy that changes nothing is answered so: the job's later state brings
		// its own event. A remembered copy may be behind what that event is about.
		return t == carried
	}
	return d.Effect == statemachine.EffectNone && !statemachine.Terminal(d.Status.Phase)
}

func (e *Executor) perform(ctx context.Context, job *v1alpha1.NotebookValidationJob, d statemachine.Decision) error {
	switch d.Effect {
	case statemachine.EffectNone:
		return nil
	case statemachine.EffectCreateValidationPod:
		return e.Effects.CreateValidationPod(ctx, job, d.PodName, d.Image)
	case statemachine.EffectCreateBuild:
		return e.Effects.CreateBuild(ctx, job)
	case statemachine.EffectDeleteChildren:
		return e.Effects.DeleteChildren(ctx, job)
	}
	return fmt.Errorf("unknown effect %q", d.Effect)
}

// notify records the notification Event of a terminal decision (gitops.NotificationFor)
// before the status is written, so that a failure is retried with the event; its name is
// deterministic, so a decision made again after a 409 or a redelivery records it once.
func (e *Executor) notify(ctx context.Context, job *v1alpha1.NotebookValidationJob, d statemachine.Decision) error {
	ended := job.DeepCopy()
	ended.Status = d.Status
	n, ok := gitops.NotificationFor(ended)
	if !ok {
		return nil
	}
	return e.Store.RecordNamedEvent(ctx, ended, n.Name, n.Labels, n.Type, n.Reason, n.Message)
}

// report records the written transition for kubectl describe, metrics and the log. A few
// transitions get no Kubernetes Event (quiet): they are in the job's status and conditions,
// and an Event each would cost the API server a request per job for nothing a user acts on.
func (e *Executor) report(ctx context.Context, out Outcome) {
	st := out.Decision.Status
	eventType := corev1.EventTypeNormal
	if st.Phase == v1alpha1.PhaseFailed {
		eventType = corev1.EventTypeWarning
	}
	// Best effort, and about a status already written: recorded once the event is answered,
	// so the answer does not wait for them.
	if !quiet(out.PreviousPhase, st.Phase, out.Decision.Reason) {
		function.AfterAnswer(ctx, func(ctx context.Context) {
			e.Store.RecordEvent(ctx, out.Job, eventType, out.Decision.Reason, st.Message)
		})
	}
	if t, reason, msg, ok := ArtifactEvent(out.Job, out.PreviousPhase, &st); ok {
		function.AfterAnswer(ctx, func(ctx context.Context) { e.Store.RecordEvent(ctx, out.Job, t, reason, msg) })
	}
	e.record(ctx, out)
	if statemachine.Terminal(st.Phase) {
		// The job's root span, now that it has an end (package tracing).
		tracing.RecordJob(ctx, string(out.Job.UID), out.Job.Annotations[tracing.AnnotationTraceparent], out.Job.CreationTimestamp.Time, e.now(),
			attribute.String(tracing.AttrNamespace, out.Job.Namespace), attribute.String(tracing.AttrJobName, out.Job.Name),
			attribute.String(tracing.AttrJobUID, string(out.Job.UID)), attribute.String(tracing.AttrTo, st.Phase),
			attribute.String(tracing.AttrReason, out.Decision.Reason))
	}
	function.Logger(ctx).Info("transition", "from", out.PreviousPhase, "to", st.Phase, "reason", out.Decision.Reason,
		"effect", string(out.Decision.Effect), "message", st.Message)
}

// quiet reports whether the transition from phase previous to phase, for reason, records no
// Kubernetes Event: a build's progress (Building to Building: pending, running, the build
// system's message; a build system that reports each step would cost an Event per step), and
// a hand-off: a job accepted (reason Initialized) or its image built (into BuildComplete),
// which job-created takes over at once with a transition whose Event says what started (the
// build and its child, or the validation pod and the image). What a quiet transition wrote
// stays in the job's status and conditions. A job held in Initializing (models not ready, a
// reuse check) has another reason, and its Event.
func quiet(previous, phase, reason string) bool {
	buildProgress := previous == v1alpha1.PhaseBuilding && phase == v1alpha1.PhaseBuilding
	handOff := reason == statemachine.ReasonInitialized || phase == v1alpha1.PhaseBuildComplete && previous != phase
	return buildProgress || handOff
}

// Reasons of the Event that says where a run's record went.
const (
	ReasonArtifactPushed     = "ArtifactPushed"
	ReasonArtifactPushFailed = "ArtifactPushFailed"
)

// ArtifactEvent is the Event of the transition that ended a job with its run's artifact
// recorded: where it is and the command that fetches it, or why nothing was pushed. ok is
// false for any other transition, and for a job that reused an earlier run's artifact: it
// pushed nothing, and its Reused Event names the artifact.
func ArtifactEvent(job *v1alpha1.NotebookValidationJob, previous string, st *v1alpha1.NotebookValidationJobStatus) (eventType, reason, message string, ok bool) {
	a := st.Artifact
	if a == nil || !statemachine.Terminal(st.Phase) || statemachine.Terminal(previous) || st.ReusedRun != nil {
		return "", "", "", false
	}
	if a.Reference == "" {
		return corev1.EventTypeWarning, ReasonArtifactPushFailed, a.Message, true
	}
	return corev1.EventTypeNormal, ReasonArtifactPushed, fmt.Sprintf("the run's executed notebook and reports (%s) are at %s; fetch them with: nbv report -n %s %s",
		strings.Join(a.Files, ", "), a.Reference, job.Namespace, job.Name), true
}

func (e *Executor) reply(out Outcome) *cloudevents.Event {
	st := out.Decision.Status
	ev := events.NewTransitionEvent(e.Source, events.Transition{
		Namespace:          out.Job.Namespace,
		Name:               out.Job.Name,
		UID:                string(out.Job.UID),
		PreviousPhase:      out.PreviousPhase,
		Phase:              st.Phase,
		Reason:             out.Decision.Reason,
		Message:            st.Message,
		ObservedGeneration: st.ObservedGeneration,
		ResourceVersion:    out.Job.ResourceVersion,
		Time:               e.now(),
	})
	return &ev
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}
