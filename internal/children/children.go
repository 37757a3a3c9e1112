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

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/jobaccess"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/tracing"
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
	// PodOTLPEndpoint, when set (NBV_POD_OTLP_ENDPOINT), is given to the validation pod's
	// runner as OTEL_EXPORTER_OTLP_ENDPOINT, so that it exports its spans (clone, kernel
	// start, cells). Never the functions' own endpoint: the pod runs in the job's namespace,
	// where that endpoint may not be reachable or meant to be.
	PodOTLPEndpoint string
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
	ctx, end := tracing.InJob(ctx, string(job.UID))
	defer end()
	traceEnv(ctx, pod, c.PodOTLPEndpoint)
	if err := c.Store.CreatePod(ctx, pod); err != nil {
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
	// The build starter reads the span to parent the build child on (tracing.TektonSpanContext).
	ctx, end := tracing.InJob(ctx, string(job.UID))
	defer end()
	return c.Builds.StartBuild(ctx, job)
}

// traceEnv gives every container of the validation pod the span it descends from
// (TRACEPARENT) and, when the installer set one, the endpoint to export its own spans to.
// With tracing off the pod is unchanged.
func traceEnv(ctx context.Context, pod *corev1.Pod, endpoint string) {
	tp := tracing.Traceparent(ctx)
	if !tracing.Enabled() || tp == "" {
		return
	}
	env := []corev1.EnvVar{{Name: tracing.EnvTraceparent, Value: tp}}
	if endpoint != "" {
		env = append(env, corev1.EnvVar{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: endpoint})
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			cs[i].Env = append(cs[i].Env, env...)
		}
	}
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
