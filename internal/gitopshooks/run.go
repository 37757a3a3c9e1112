// Package gitopshooks performs the GitOps hooks of a finished job (internal/gitops plans them):
// the sync-wave annotations on the job, then the on-success triggers' patches, then status
// gitOpsHooks Done with what each did, written with the resourceVersion-guarded status patch
// every transition uses. Only a job whose hooks are Pending (marked by its terminal write) is
// touched, so a job without hook annotations costs nothing here.
//
// The hooks fire once per job: the Done record is the guard, and every value written is
// derived from the job's status, so a repeat (a duplicate event racing this one, a crash
// before the record) writes what is already there. A permission the opt-in RBAC
// (config/rbac/gitops) would grant, or a target that does not exist, is recorded, not retried.
package gitopshooks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/gitops"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/statustext"
)

// MaxAttempts bounds the rounds after a 409, as for transitions.
const MaxAttempts = 3

// ReasonHooksDone is the reason of the Event recorded once the hooks were performed.
const ReasonHooksDone = "GitOpsHooksDone"

// Runner performs hooks. Targets patches the triggers' targets.
type Runner struct {
	Store   *jobstore.Store
	Targets dynamic.Interface
}

// Run performs the pending hooks of job namespace/name, starting from known when it is not nil
// (a job as the API server answered, never an event's copy). It reports whether it recorded
// them; a job that is gone or whose hooks are not pending is nothing to do.
func (r *Runner) Run(ctx context.Context, known *v1alpha1.NotebookValidationJob, namespace, name string) (bool, error) {
	ctx = function.WithJob(ctx, namespace, name)
	var last error
	for range MaxAttempts {
		job := known
		known = nil
		if job == nil {
			var err error
			if job, err = r.Store.Get(ctx, namespace, name); errors.Is(err, jobstore.ErrJobNotFound) {
				return false, nil
			} else if err != nil {
				return false, fmt.Errorf("gitops hooks: %w", err)
			}
		}
		if !gitops.Pending(job) {
			return false, nil
		}
		done, err := r.perform(ctx, job)
		if apierrors.IsConflict(err) {
			last = err
			continue
		}
		if err != nil {
			return false, fmt.Errorf("gitops hooks of job %s/%s: %w", namespace, name, err)
		}
		r.Store.RecordEvent(ctx, done, corev1.EventTypeNormal, ReasonHooksDone, summary(done.Status.GitOpsHooks))
		function.Logger(ctx).Info("gitops hooks done", "wave", done.Status.GitOpsHooks.Wave, "message", done.Status.GitOpsHooks.Message)
		return true, nil
	}
	return false, fmt.Errorf("%w: gitops hooks of job %s/%s: %w", function.ErrConflict, namespace, name, last)
}

// perform makes one round: annotate the job, patch the targets, record. A 409 from the job's
// writes is returned as is for the caller to read again.
func (r *Runner) perform(ctx context.Context, job *v1alpha1.NotebookValidationJob) (*v1alpha1.NotebookValidationJob, error) {
	plan := gitops.PlanFor(job)
	rec := v1alpha1.GitOpsHooksStatus{State: v1alpha1.GitOpsHooksDone, Wave: plan.Wave}
	var why []string
	if plan.Message != "" {
		why = append(why, plan.Message)
	}
	if plan.JobAnnotations != nil {
		annotated, err := r.Store.PatchAnnotations(ctx, job, plan.JobAnnotations)
		switch {
		case err == nil:
			job = annotated
		case apierrors.IsForbidden(err):
			rec.Wave = ""
			why = append(why, "sync-wave annotations not set: "+forbidden("wave.yaml", job.Namespace, err))
		default:
			return nil, err
		}
	}
	for _, step := range plan.Triggers {
		res := step.Result
		if step.Patch != nil {
			var err error
			if res, err = r.fire(ctx, step); err != nil {
				return nil, err
			}
		}
		rec.Triggers = append(rec.Triggers, res)
	}
	rec.Message = strings.Join(why, "; ")
	status := job.Status.DeepCopy()
	status.GitOpsHooks = &rec
	statustext.Status(status)
	return r.Store.PatchStatus(ctx, job, *status)
}

// fire makes one trigger's patch; an Argo CD Application is read first and patched only if it
// opts in to the job's namespace, at the version read. What a retry cannot change (no such object, no permission,
// a patch the target refuses) is its result; anything else is returned for the event to be
// redelivered.
func (r *Runner) fire(ctx context.Context, step gitops.TriggerStep) (v1alpha1.GitOpsTriggerResult, error) {
	p := step.Patch
	res := v1alpha1.GitOpsTriggerResult{Target: step.Target, Result: v1alpha1.TriggerFired}
	targets := r.Targets.Resource(p.Resource).Namespace(p.Namespace)
	body := p.Body
	var err error
	if step.OptInFrom != "" {
		var target *unstructured.Unstructured
		if target, err = targets.Get(ctx, p.Name, metav1.GetOptions{}); err == nil {
			if ok, why := gitops.AllowsTrigger(target.GetAnnotations(), step.OptInFrom); !ok {
				res.Result, res.Message = v1alpha1.TriggerRefused, why
				return res, nil
			}
			if body, err = p.GuardedBody(target.GetResourceVersion()); err != nil {
				return res, fmt.Errorf("trigger %s: %w", step.Target, err)
			}
		}
	}
	if err == nil {
		_, err = targets.Patch(ctx, p.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "nbv-gitops-hooks"})
	}
	switch {
	case err == nil:
	case apierrors.IsNotFound(err):
		// Also what a kind that is not installed (no such resource) answers.
		res.Result, res.Message = v1alpha1.TriggerNotFound, err.Error()
	case apierrors.IsForbidden(err):
		res.Result, res.Message = v1alpha1.TriggerForbidden, forbidden("triggers.yaml", p.Namespace, err)
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsMethodNotSupported(err):
		res.Result, res.Message = v1alpha1.TriggerRefused, err.Error()
	default:
		return res, fmt.Errorf("trigger %s: %w", step.Target, err)
	}
	return res, nil
}

// forbidden says which opt-in file grants what err was refused, before the API server's
// words (which the status bounds).
func forbidden(file, namespace string, err error) string {
	return "forbidden, apply config/rbac/gitops/" + file + " in namespace " + namespace + " to allow it: " + err.Error()
}

func summary(h *v1alpha1.GitOpsHooksStatus) string {
	parts := []string{}
	if h.Wave != "" {
		parts = append(parts, "annotated "+h.Wave)
	}
	for _, t := range h.Triggers {
		parts = append(parts, t.Target+": "+t.Result)
	}
	if h.Message != "" {
		parts = append(parts, h.Message)
	}
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, "; ")
}
