// Package childapi owns the rules of API access to a job's build children (Tekton
// PipelineRuns, OpenShift BuildConfigs and Builds), whichever client makes the request: create
// with the ownership rule of DESIGN principle 3 (CreateOwned), the mapping of "this cluster
// does not serve that API" to a permanent failure that says what to install, and delete where
// "gone" is success (DeleteResult).
//
// Client applies those rules through the dynamic client, which serves PipelineRuns (Tekton's
// clientset is tens of MB; the dynamic client is already linked). Package buildchild applies
// the same functions through OpenShift's typed build client for BuildConfigs and Builds, made
// from Client.Config so that its requests are counted too.
//
// It imports no Tekton or OpenShift types, so a function that only deletes or reads children
// raw stays small; building and observing typed children is package buildchild. Every HTTP
// request is counted (Calls) so the API cost of a transition can be reported.
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
	"github.com/mlops-dev/nbv/internal/jobstore"
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
	// TaskRuns are read, never created: a failed PipelineRun's say which step failed.
	TaskRuns = Resource{
		GVR:  schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "taskruns"},
		Kind: "TaskRun",
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
	// ImageStreams are where an OpenShift build pushes when no output image is set; created
	// when absent (CreateIfAbsent), never observed or deleted (the garbage collector follows
	// their controller reference).
	ImageStreams = Resource{
		GVR:     schema.GroupVersionResource{Group: "image.openshift.io", Version: "v1", Resource: "imagestreams"},
		Kind:    "ImageStream",
		Install: "run the job on an OpenShift cluster (it serves image.openshift.io/v1 ImageStreams), or set buildConfig.strategyConfig.outputImage",
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

// ErrNotServed is wrapped by CreateOwned when the cluster does not serve the child's API.
var ErrNotServed = errors.New("API not served by this cluster")

// Client reads, creates and deletes build children. It is safe for concurrent use.
type Client struct {
	dyn   dynamic.Interface
	cfg   *rest.Config // counted in calls; nil for NewForDynamic
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
	return &Client{dyn: dyn, cfg: c, calls: calls}, nil
}

// NewForDynamic wraps an existing dynamic client (tests use client-go's fake); its requests
// are not counted.
func NewForDynamic(dyn dynamic.Interface) *Client {
	return &Client{dyn: dyn, calls: new(atomic.Int64)}
}

// Calls is the number of HTTP requests made so far (failures included), by this client and by
// every client made from Config. Take the difference around a transition to report its API
// cost.
func (c *Client) Calls() int64 { return c.calls.Load() }

// Config returns a copy of the counted config the client was made from, for the typed
// clients of other children: their requests add to Calls. It is nil for NewForDynamic.
func (c *Client) Config() *rest.Config {
	if c.cfg == nil {
		return nil
	}
	return rest.CopyConfig(c.cfg)
}

// Resource is the dynamic client of resource r in namespace, counted like every request of
// the Client.
func (c *Client) Resource(r Resource, namespace string) dynamic.ResourceInterface {
	return c.dyn.Resource(r.GVR).Namespace(namespace)
}

// Get reads the child name of resource r; a missing child satisfies apierrors.IsNotFound.
func (c *Client) Get(ctx context.Context, r Resource, namespace, name string) (*unstructured.Unstructured, error) {
	obj, err := c.dyn.Resource(r.GVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", r.Kind, namespace, name, err)
	}
	return obj, nil
}

// Create creates obj, a child of job of resource r, through the dynamic client, under the
// rules of CreateOwned.
func (c *Client) Create(ctx context.Context, r Resource, job *v1alpha1.NotebookValidationJob, obj *unstructured.Unstructured) error {
	name := obj.GetName()
	return CreateOwned(ctx, r, job, name,
		func(ctx context.Context) error {
			_, err := c.dyn.Resource(r.GVR).Namespace(job.Namespace).Create(ctx, obj, metav1.CreateOptions{})
			return err
		},
		func(ctx context.Context) (metav1.Object, error) {
			existing, err := c.Get(ctx, r, job.Namespace, name)
			if err != nil {
				return nil, err
			}
			return existing, nil
		})
}

// CreateOwned creates the child name of resource r for job with create, whichever client
// create uses, and classifies its error. An object of that name that already exists counts
// as created when job (by UID) controls it, as read by get: an earlier attempt of the same
// decision made it. Failures the job's spec or the cluster's make-up cause, which no retry
// can fix, are permanent: a name taken by an object the job does not control
// (transition.NameTaken, wrapping jobstore.ErrNotOwned), an API that is not served (the
// message says what to install), and a child the API server or the build system's admission
// webhook refuses (transition.CreateFailure). Anything else is returned wrapped, still
// recognisable by apierrors, for the event to be redelivered.
func CreateOwned(ctx context.Context, r Resource, job *v1alpha1.NotebookValidationJob, name string,
	create func(context.Context) error, get func(context.Context) (metav1.Object, error)) error {
	key := job.Namespace + "/" + name
	err := create(ctx)
	switch {
	case err == nil:
		return nil
	case apierrors.IsAlreadyExists(err):
		existing, gerr := get(ctx)
		if gerr != nil {
			return fmt.Errorf("create %s %s: it already exists, and reading it failed: %w", r.Kind, key, gerr)
		}
		if metav1.IsControlledBy(existing, job) {
			return nil
		}
		return transition.NameTaken(fmt.Errorf("create %s %s: %w", r.Kind, key, jobstore.NotOwned(r.Kind, existing, job.Name, job.UID)))
	}
	return createFailed(r, key, err)
}

// createFailed classifies a create's error other than "already exists": an API that is not
// served is permanent (the message says what to install); the rest as transition.CreateFailure.
func createFailed(r Resource, key string, err error) error {
	if IsNotServed(err) {
		return transition.Permanent(fmt.Errorf("create %s %s: %w: %s is not served: %s (%v)",
			r.Kind, key, ErrNotServed, r.GVR.GroupResource(), r.Install, err))
	}
	return transition.CreateFailure(fmt.Errorf("create %s %s: %w", r.Kind, key, err))
}

// CreateIfAbsent creates obj, of resource r in job's namespace, unless an object of that name
// exists: whoever made it (the job's owner, or an earlier attempt of the same decision), it
// is used as it is and never read, so the creating ServiceAccount needs only "create". Other
// failures are classified as CreateOwned's.
func (c *Client) CreateIfAbsent(ctx context.Context, r Resource, job *v1alpha1.NotebookValidationJob, obj *unstructured.Unstructured) error {
	_, err := c.dyn.Resource(r.GVR).Namespace(job.Namespace).Create(ctx, obj, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	return createFailed(r, job.Namespace+"/"+obj.GetName(), err)
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

// DeleteOptions are the options of every child deletion: dependents (TaskRuns, build pods,
// Builds started from a BuildConfig) are deleted in the background.
func DeleteOptions() metav1.DeleteOptions {
	policy := metav1.DeletePropagationBackground
	return metav1.DeleteOptions{PropagationPolicy: &policy}
}

// DeleteResult classifies err, the result of deleting the child name of resource r in
// namespace with any client: a child that is gone, or an API that is not served (a 404 or a
// RESTMapper's no-match), counts as deleted (nil); anything else is wrapped for a retry.
func DeleteResult(r Resource, namespace, name string, err error) error {
	if err == nil || apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil
	}
	return fmt.Errorf("delete %s %s/%s: %w", r.Kind, namespace, name, err)
}

// Delete deletes the child name of resource r through the dynamic client, with DeleteOptions
// and the rules of DeleteResult.
func (c *Client) Delete(ctx context.Context, r Resource, namespace, name string) error {
	err := c.dyn.Resource(r.GVR).Namespace(namespace).Delete(ctx, name, DeleteOptions())
	return DeleteResult(r, namespace, name, err)
}

// Recorded returns the children to delete for job, with their name: the PipelineRun for
// tekton, the Build and then its BuildConfig for s2i. The strategy and name are the ones
// recorded when the build started, so a spec edited since cannot redirect the deletion. A job
// with no child build (external, or none recorded) has none.
func Recorded(job *v1alpha1.NotebookValidationJob) ([]Resource, string) {
	bs := job.Status.BuildStatus
	if bs == nil || bs.BuildName == "" {
		return nil, ""
	}
	switch bs.Strategy {
	case v1alpha1.BuildStrategyTekton:
		return []Resource{PipelineRuns}, bs.BuildName
	case v1alpha1.BuildStrategyS2I:
		return []Resource{Builds, BuildConfigs}, bs.BuildName
	}
	return nil, ""
}

// ChildName is the name of job's build child: the one recorded when the build started, else
// the deterministic statemachine.BuildName.
func ChildName(job *v1alpha1.NotebookValidationJob) string {
	if bs := job.Status.BuildStatus; bs != nil && bs.BuildName != "" {
		return bs.BuildName
	}
	return statemachine.BuildName(job)
}
