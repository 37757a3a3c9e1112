// Package childapi owns the API access to a job's build children (Tekton PipelineRuns,
// OpenShift BuildConfigs and Builds) through the dynamic client: get, create with the
// ownership rule of DESIGN principle 3, delete, and the mapping of "this cluster does not serve
// that API" to a permanent failure that says what to install.
//
// It imports no Tekton or OpenShift types, so a function that only deletes or reads children
// raw (the sweep) stays small; building and observing typed children is package buildchild.
// Every HTTP request is counted (Calls) so the API cost of a transition can be reported.
package childapi

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/apicalls"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/transition"
)

// Resource describes one kind of build child.
type Resource struct {
	GVR  schema.GroupVersionResource
	Kind string
	// Install says what the cluster needs for this API to be served, for the job's status.
	Install string
}

// APIVersion is the resource's "group/version", as in an object's apiVersion.
func (r Resource) APIVersion() string { return r.GVR.GroupVersion().String() }

// The build children. Their GVRs equal tekton.GVR, s2i.BuildGVR and s2i.BuildConfigGVR
// (package buildchild's tests pin that); they are spelled out here so that this package
// links none of the typed structs those packages import.
var (
	PipelineRuns = Resource{
		GVR:     schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"},
		Kind:    "PipelineRun",
		Install: "install Tekton Pipelines (it serves tekton.dev/v1 PipelineRuns), or use buildConfig.strategy s2i or external",
	}
	Builds = Resource{
		GVR:     schema.GroupVersionResource{Group: "build.openshift.io", Version: "v1", Resource: "builds"},
		Kind:    "Build",
		Install: "run the job on an OpenShift cluster (it serves build.openshift.io/v1 Builds), or use buildConfig.strategy tekton or external",
	}
	BuildConfigs = Resource{
		GVR:     schema.GroupVersionResource{Group: "build.openshift.io", Version: "v1", Resource: "buildconfigs"},
		Kind:    "BuildConfig",
		Install: "run the job on an OpenShift cluster (it serves build.openshift.io/v1 BuildConfigs), or use buildConfig.strategy tekton or external",
	}
)

// ObservedKind returns the build child resource whose update events build-status-changed
// accepts for kind and apiVersion: PipelineRun (tekton.dev/v1) or Build
// (build.openshift.io/v1). BuildConfigs are not observed: they never run anything.
func ObservedKind(kind, apiVersion string) (Resource, bool) {
	for _, r := range []Resource{PipelineRuns, Builds} {
		if r.Kind == kind && r.APIVersion() == apiVersion {
			return r, true
		}
	}
	return Resource{}, false
}

// ErrNotOwned is wrapped by Create when an object of the child's name exists and is not
// controlled by the job. Retrying cannot fix it.
var ErrNotOwned = errors.New("exists and is not controlled by this job")

// ErrNotServed is wrapped by Create when the cluster does not serve the child's API.
var ErrNotServed = errors.New("API not served by this cluster")

// Client reads, creates and deletes build children. It is safe for concurrent use.
type Client struct {
	dyn   dynamic.Interface
	calls *atomic.Int64
}

// New builds a Client from cfg (which it does not modify), counting its requests.
func New(cfg *rest.Config) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("childapi: rest config is nil")
	}
	c, calls := apicalls.Counted(cfg, "nbv-buildchild")
	dyn, err := dynamic.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("childapi: dynamic client: %w", err)
	}
	return &Client{dyn: dyn, calls: calls}, nil
}

// NewForDynamic wraps an existing dynamic client (tests use client-go's fake); its requests
// are not counted.
func NewForDynamic(dyn dynamic.Interface) *Client {
	return &Client{dyn: dyn, calls: new(atomic.Int64)}
}

// Calls is the number of HTTP requests made so far (failures included). Take the difference
// around a transition to report its API cost.
func (c *Client) Calls() int64 { return c.calls.Load() }

// Get reads the child name of resource r; a missing child satisfies apierrors.IsNotFound.
func (c *Client) Get(ctx context.Context, r Resource, namespace, name string) (*unstructured.Unstructured, error) {
	obj, err := c.dyn.Resource(r.GVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", r.Kind, namespace, name, err)
	}
	return obj, nil
}

// Create creates obj, a child of job of resource r. An object of that name that already
// exists counts as created when job (by UID) controls it: an earlier attempt of the same
// decision made it. Failures the job's spec or the cluster's make-up cause, which no retry
// can fix, are transition.Permanent: an API that is not served (the message says what to
// install), a child refused as invalid (by the API server or the build system's admission
// webhook), or a name taken by an object the job does not control. Anything else is returned
// as is, wrapped, for the event to be redelivered.
func (c *Client) Create(ctx context.Context, r Resource, job *v1alpha1.NotebookValidationJob, obj *unstructured.Unstructured) error {
	key := job.Namespace + "/" + obj.GetName()
	_, err := c.dyn.Resource(r.GVR).Namespace(job.Namespace).Create(ctx, obj, metav1.CreateOptions{})
	switch {
	case err == nil:
		return nil
	case apierrors.IsAlreadyExists(err):
		existing, gerr := c.Get(ctx, r, job.Namespace, obj.GetName())
		if gerr != nil {
			return fmt.Errorf("create %s %s: it already exists, and reading it failed: %w", r.Kind, key, gerr)
		}
		if metav1.IsControlledBy(existing, job) {
			return nil
		}
		return transition.Permanent(fmt.Errorf("create %s %s: %w %s (uid %s); found controller %s",
			r.Kind, key, ErrNotOwned, job.Name, job.UID, describeRef(metav1.GetControllerOf(existing))))
	case IsNotServed(err):
		return transition.Permanent(fmt.Errorf("create %s %s: %w: %s is not served: %s (%v)",
			r.Kind, key, ErrNotServed, r.GVR.GroupResource(), r.Install, err))
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return transition.Permanent(fmt.Errorf("create %s %s: refused as invalid: %w", r.Kind, key, err))
	}
	return fmt.Errorf("create %s %s: %w", r.Kind, key, err)
}

// IsNotServed reports whether err, from a create or list, says the cluster does not serve the
// resource: a RESTMapper's no-match error, or a 404 from the API server that is not about a
// missing namespace. (On a get or delete, a 404 means the object is missing instead.)
func IsNotServed(err error) bool {
	if meta.IsNoMatchError(err) {
		return true
	}
	if !apierrors.IsNotFound(err) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if d := status.Status().Details; d != nil && d.Kind == "namespaces" {
			return false
		}
	}
	return true
}

func describeRef(r *metav1.OwnerReference) string {
	if r == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s (uid %s)", r.Kind, r.Name, r.UID)
}

// Delete deletes the child name of resource r with its dependents (TaskRuns, build pods)
// in the background. A child that is gone, or an API that is not served, counts as deleted.
func (c *Client) Delete(ctx context.Context, r Resource, namespace, name string) error {
	policy := metav1.DeletePropagationBackground
	err := c.dyn.Resource(r.GVR).Namespace(namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
		return fmt.Errorf("delete %s %s/%s: %w", r.Kind, namespace, name, err)
	}
	return nil
}

// DeleteBuild deletes job's build child: the PipelineRun for tekton, the Build and its
// BuildConfig for s2i. The strategy and name are the ones recorded when the build started,
// so a spec edited since cannot redirect the deletion. A job with no child build (external,
// or none recorded) has nothing to delete.
func (c *Client) DeleteBuild(ctx context.Context, job *v1alpha1.NotebookValidationJob) error {
	bs := job.Status.BuildStatus
	if bs == nil || bs.BuildName == "" {
		return nil
	}
	var resources []Resource
	switch bs.Strategy {
	case v1alpha1.BuildStrategyTekton:
		resources = []Resource{PipelineRuns}
	case v1alpha1.BuildStrategyS2I:
		resources = []Resource{Builds, BuildConfigs}
	default:
		return nil
	}
	for _, r := range resources {
		if err := c.Delete(ctx, r, job.Namespace, bs.BuildName); err != nil {
			return err
		}
	}
	return nil
}

// ChildName is the name of job's build child: the one recorded when the build started, else
// the deterministic statemachine.BuildName.
func ChildName(job *v1alpha1.NotebookValidationJob) string {
	if bs := job.Status.BuildStatus; bs != nil && bs.BuildName != "" {
		return bs.BuildName
	}
	return statemachine.BuildName(job.Name)
}
