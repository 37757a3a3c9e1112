// Package children performs the side effects of decisions on a job's children: it creates the
// validation Pod, starts the build, and deletes what may still run when a deadline passed.
// Every operation is idempotent (deterministic names; "already exists" and "not found" are
// success), as transition.Effects requires. Builds are delegated to a BuildStarter so that a
// function which never starts builds links no build-system types. Nothing is created for a job
// whose spec author may not use what the child would (internal/jobaccess).
package children

import (
	"context"
	"errors"
	"fmt"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/jobaccess"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/transition"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// BuildStarter creates and deletes a job's build child (a PipelineRun or an OpenShift Build).
type BuildStarter interface {
	StartBuild(ctx context.Context, job *v1alpha1.NotebookValidationJob) error
	DeleteBuild(ctx context.Context, job *v1alpha1.NotebookValidationJob) error
}

// Children implements transition.Effects.
type Children struct {
	Store *jobstore.Store
	Pod   validationpod.Options
	// Builds starts builds; nil in functions whose decisions never start one.
	Builds BuildStarter
	// Access checks, before any child is created, that the job's author may use what the
	// child would use.
	Access *jobaccess.Checker
}

var _ transition.Effects = (*Children)(nil)

// CreateValidationPod builds the pod for job and creates it. A spec that cannot make a valid
// pod, a pod the API server refuses (transition.CreateFailure), and a pod of that name
// controlled by something else are permanent.
func (c *Children) CreateValidationPod(ctx context.Context, job *v1alpha1.NotebookValidationJob, podName, image string) error {
	pod, err := validationpod.Build(job, podName, image, c.Pod)
	if err != nil {
		return transition.Permanent(err)
	}
	if err := c.checkAccess(ctx, job, jobaccess.PodNeeds(job)); err != nil {
		return err
	}
	if _, err := c.Store.CreatePod(ctx, pod); err != nil {
		if errors.Is(err, jobstore.ErrNotOwned) {
			return transition.NameTaken(err)
		}
		return transition.CreateFailure(err)
	}
	return nil
}

// CreateBuild starts the job's build.
func (c *Children) CreateBuild(ctx context.Context, job *v1alpha1.NotebookValidationJob) error {
	if c.Builds == nil {
		// A deployment error, not the user's: answer 5xx so the event is kept and seen.
		return errors.New("this function is not configured to start builds")
	}
	if err := c.checkAccess(ctx, job, jobaccess.BuildNeeds(job)); err != nil {
		return err
	}
	return c.Builds.StartBuild(ctx, job)
}

// checkAccess is nil when job's author may use what needs lists; a refusal is permanent.
func (c *Children) checkAccess(ctx context.Context, job *v1alpha1.NotebookValidationJob, needs []jobaccess.Need) error {
	if c.Access == nil {
		// A deployment error, not the user's: answer 5xx so the event is kept and seen.
		return errors.New("this function is not configured to check what job authors may use")
	}
	err := c.Access.Check(ctx, job, needs)
	if errors.Is(err, jobaccess.ErrNotPermitted) {
		return transition.NotPermitted(err)
	}
	return err
}

// DeleteChildren deletes the job's current validation pod and its build, if any.
func (c *Children) DeleteChildren(ctx context.Context, job *v1alpha1.NotebookValidationJob) error {
	if name := job.Status.ValidationPodName; name != "" {
		if err := c.Store.DeletePod(ctx, job.Namespace, name); err != nil {
			return fmt.Errorf("delete validation pod: %w", err)
		}
	}
	if c.Builds != nil && job.Status.BuildStatus != nil && job.Status.BuildStatus.BuildName != "" {
		if err := c.Builds.DeleteBuild(ctx, job); err != nil {
			return fmt.Errorf("delete build: %w", err)
		}
	}
	return nil
}
