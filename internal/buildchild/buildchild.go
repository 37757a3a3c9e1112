// Package buildchild owns a job's build child as a typed object: it starts the build (a Tekton
// PipelineRun, or an OpenShift BuildConfig and Build) from the strategy builders in
// internal/build, and reads a child back as a state-machine observation. It implements
// children.BuildStarter and the sweep's BuildObserver.
//
// Every child goes through the dynamic client of package childapi, under the same rules
// (childapi.CreateOwned, childapi.DeleteResult), converted through JSON (dyntyped): Tekton
// PipelineRuns as package tekton's own structs, OpenShift BuildConfigs and Builds as
// OpenShift's API structs (github.com/openshift/api) behind a typed interface
// (OpenShiftBuilds) that OpenShift's generated client also fits. No
// generated clientset is linked: Tekton's types and OpenShift's clientset bring Knative
// observability, OpenTelemetry and client-go's apply configurations (about 20 MB per binary).
// childapi.Client.Calls counts every request.
//
// Settings read from the environment by functionenv (BuildSettings) fill the builders'
// deployment-wide defaults; a job's buildConfig.strategyConfig overrides them.
package buildchild

import (
	"context"
	"errors"
	"fmt"

	buildv1 "github.com/openshift/api/build/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build"
	"github.com/mlops-dev/nbv/internal/build/s2i"
	"github.com/mlops-dev/nbv/internal/build/tekton"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/dyntyped"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/observe"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/tracing"
	"github.com/mlops-dev/nbv/internal/transition"
)

// Options are the builders' deployment-wide defaults.
type Options struct {
	Tekton tekton.Options
	S2I    s2i.Options
}

// OptionsFrom maps the function's environment settings onto the builders' options.
func OptionsFrom(s functionenv.BuildSettings) Options {
	return Options{
		Tekton: tekton.Options{BuilderImage: s.TektonBuilderImage, GitImage: s.TektonGitImage, OutputImage: s.TektonOutputImage,
			AllowedBuilderImages: s.TektonAllowedBuilderImages, AllowedGitImages: s.TektonAllowedGitImages},
		S2I: s2i.Options{OutputImage: s.S2IOutputImage},
	}
}

// Builds starts, deletes and observes build children. It is safe for concurrent use.
type Builds struct {
	// API serves PipelineRuns (and any other resource but BuildConfigs and Builds); its
	// Calls count OpenShift's requests too when OpenShift is made from API.Config (New).
	API *childapi.Client
	// OpenShift serves BuildConfigs and Builds.
	OpenShift OpenShiftBuilds
	Opts      Options
	// ExplainsFailedSteps reads a failed PipelineRun's TaskRuns to name the step that failed
	// (explainFailure). Set where the ServiceAccount may get TaskRuns: build-status-changed,
	// which observes every finished build; the sweep, which meets one only when an event was
	// lost, keeps Tekton's message.
	ExplainsFailedSteps bool
}

// New builds a Builds over the function's API server and build settings.
func New(s functionenv.Settings) (*Builds, error) {
	api, err := childapi.New(s.Kube)
	if err != nil {
		return nil, fmt.Errorf("build children: %w", err)
	}
	return &Builds{API: api, OpenShift: dynamicOpenShift{api}, Opts: OptionsFrom(s.Builds)}, nil
}

// StartBuild creates job's build child named statemachine.BuildName: for tekton the
// PipelineRun, for s2i the output ImageStream when absent (named after the job, see
// s2i.ImageStream), the BuildConfig (for `oc start-build` re-runs; it starts nothing) and
// then the Build. Creating what already exists under the job's control is success, so a
// redelivered decision converges. A configuration the builders refuse (a bad timeout,
// fallbackStrategy, path or image) and a cluster that does not serve the strategy's API fail
// permanently (transition.Permanent), with a message for the job's status.
func (b *Builds) StartBuild(ctx context.Context, job *v1alpha1.NotebookValidationJob) error {
	name := statemachine.BuildName(job)
	switch strategy := statemachine.BuildStrategy(job); strategy {
	case v1alpha1.BuildStrategyTekton:
		pr, err := tekton.NewPipelineRun(job, name, b.Opts.Tekton)
		if errors.Is(err, tekton.ErrImageNotAllowed) {
			return transition.NotPermitted(err)
		}
		if err != nil {
			return transition.Permanent(fmt.Errorf("invalid tekton buildConfig: %w", err))
		}
		// Tekton's own spans (the PipelineRun's, its TaskRuns') join the job's trace.
		if sc := tracing.TektonSpanContext(ctx); sc != "" {
			metav1.SetMetaDataAnnotation(&pr.ObjectMeta, tracing.TektonAnnotation, sc)
		}
		u, err := dyntyped.ToUnstructured(pr)
		if err != nil {
			return fmt.Errorf("convert PipelineRun for job %s/%s: %w", job.Namespace, job.Name, err)
		}
		return b.API.Create(ctx, childapi.PipelineRuns, job, &unstructured.Unstructured{Object: u})
	case v1alpha1.BuildStrategyS2I:
		bc, err := s2i.BuildConfig(job, name, b.Opts.S2I)
		if err != nil {
			return transition.Permanent(fmt.Errorf("invalid s2i buildConfig: %w", err))
		}
		bld, err := s2i.Build(job, name, b.Opts.S2I)
		if err != nil {
			return transition.Permanent(fmt.Errorf("invalid s2i buildConfig: %w", err))
		}
		if err := b.ensureImageStream(ctx, job); err != nil {
			return err
		}
		if err := createTyped(ctx, b.OpenShift.BuildConfigs(job.Namespace), childapi.BuildConfigs, job, bc); err != nil {
			return err
		}
		return createTyped(ctx, b.OpenShift.Builds(job.Namespace), childapi.Builds, job, bld)
	default:
		return transition.Permanent(fmt.Errorf("build strategy %q has no build child to create", strategy))
	}
}

// ensureImageStream creates the ImageStream the s2i build pushes to, when the build pushes to
// one and it is absent. It goes through the dynamic client: OpenShift's image clientset is
// not worth linking for one create.
func (b *Builds) ensureImageStream(ctx context.Context, job *v1alpha1.NotebookValidationJob) error {
	is, err := s2i.ImageStream(job, b.Opts.S2I)
	if err != nil {
		return transition.Permanent(fmt.Errorf("invalid s2i buildConfig: %w", err))
	}
	if is == nil {
		return nil
	}
	u, err := dyntyped.ToUnstructured(is)
	if err != nil {
		return fmt.Errorf("convert ImageStream for job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return b.API.CreateIfAbsent(ctx, childapi.ImageStreams, job, &unstructured.Unstructured{Object: u})
}

// createOrGet is the part of a typed client (one kind, one namespace) that creating a child
// needs.
type createOrGet[T metav1.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
}

// createTyped creates obj, job's child of resource r, with the typed client c under the rules
// of childapi.CreateOwned.
func createTyped[T metav1.Object](ctx context.Context, c createOrGet[T], r childapi.Resource, job *v1alpha1.NotebookValidationJob, obj T) error {
	name := obj.GetName()
	return childapi.CreateOwned(ctx, r, job, name,
		func(ctx context.Context) error {
			_, err := c.Create(ctx, obj, metav1.CreateOptions{})
			return err
		},
		func(ctx context.Context) (metav1.Object, error) {
			existing, err := c.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("get %s %s/%s: %w", r.Kind, job.Namespace, name, err)
			}
			return existing, nil
		})
}

// DeleteBuild deletes job's build child, the ones childapi.Recorded names (the PipelineRun,
// or the Build and then its BuildConfig), each with its dependents in the background. A child
// that is gone, or whose API is not served, counts as deleted.
func (b *Builds) DeleteBuild(ctx context.Context, job *v1alpha1.NotebookValidationJob) error {
	resources, name := childapi.Recorded(job)
	for _, r := range resources {
		if err := b.delete(ctx, r, job.Namespace, name); err != nil {
			return err
		}
	}
	return nil
}

func (b *Builds) delete(ctx context.Context, r childapi.Resource, namespace, name string) error {
	var err error
	switch r.GVR {
	case childapi.Builds.GVR:
		err = b.OpenShift.Builds(namespace).Delete(ctx, name, childapi.DeleteOptions())
	case childapi.BuildConfigs.GVR:
		err = b.OpenShift.BuildConfigs(namespace).Delete(ctx, name, childapi.DeleteOptions())
	default:
		return b.API.Delete(ctx, r, namespace, name)
	}
	return childapi.DeleteResult(r, namespace, name, err)
}

// resourceOf is the observed child resource of a strategy.
func resourceOf(strategy string) (childapi.Resource, bool) {
	switch strategy {
	case v1alpha1.BuildStrategyTekton:
		return childapi.PipelineRuns, true
	case v1alpha1.BuildStrategyS2I:
		return childapi.Builds, true
	}
	return childapi.Resource{}, false
}

// ObserveChild reads job's child name of resource r fresh and observes it. A child that is
// gone is observed as a failed build (observe.BuildMissing). A child the job does not
// control is a forged or stale hint: function.ErrBadInput.
func (b *Builds) ObserveChild(ctx context.Context, job *v1alpha1.NotebookValidationJob, r childapi.Resource, name string) (statemachine.Observation, error) {
	obs, _, err := b.ObserveChildAt(ctx, job, r, name, "")
	return obs, err
}

// ObserveChildAt is ObserveChild for an event that showed the child at resourceVersion: it
// also reports whether the child read fresh has moved on from that version (false when
// resourceVersion is empty, or the child is gone).
func (b *Builds) ObserveChildAt(ctx context.Context, job *v1alpha1.NotebookValidationJob, r childapi.Resource, name, resourceVersion string) (statemachine.Observation, bool, error) {
	return b.ObserveRead(ctx, job, r, name, resourceVersion, func(ctx context.Context) (Child, error) {
		return b.ReadChild(ctx, r, job.Namespace, name)
	})
}

// Child is a build child as read fresh (ReadChild), ready to be observed.
type Child struct {
	obj      metav1.Object
	observed func() (build.Observed, error)
}

// ReadChild reads the child name of resource r fresh: a Build through the typed client,
// observed as it is (s2i.Observe); anything else through the dynamic client, observed by
// Observe. A missing child satisfies apierrors.IsNotFound. It may run before the job is read
// (package prefetch): what it read is only believed once ObserveRead found the job controls it.
func (b *Builds) ReadChild(ctx context.Context, r childapi.Resource, namespace, name string) (Child, error) {
	if r.GVR == childapi.Builds.GVR {
		bld, err := b.OpenShift.Builds(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return Child{}, fmt.Errorf("get %s %s/%s: %w", r.Kind, namespace, name, err)
		}
		return Child{obj: bld, observed: func() (build.Observed, error) { return s2i.Observe(bld), nil }}, nil
	}
	u, err := b.API.Get(ctx, r, namespace, name)
	if err != nil {
		return Child{}, err
	}
	return Child{obj: u, observed: func() (build.Observed, error) { return Observe(u) }}, nil
}

// ObserveRead is ObserveChildAt with the child read by read (ReadChild, maybe started ahead).
func (b *Builds) ObserveRead(ctx context.Context, job *v1alpha1.NotebookValidationJob, r childapi.Resource, name, resourceVersion string, read func(context.Context) (Child, error)) (statemachine.Observation, bool, error) {
	child, err := read(ctx)
	switch {
	case apierrors.IsNotFound(err):
		return observe.BuildMissing(r.Kind, name), false, nil
	case err != nil:
		return statemachine.Observation{}, false, err
	case !metav1.IsControlledBy(child.obj, job):
		return statemachine.Observation{}, false, fmt.Errorf("%w: %s %s/%s is not controlled by job %s", function.ErrBadInput, r.Kind, job.Namespace, name, job.Name)
	}
	o, err := child.observed()
	if err != nil {
		return statemachine.Observation{}, false, fmt.Errorf("%w: %v", function.ErrBadInput, err)
	}
	if u, ok := child.obj.(*unstructured.Unstructured); ok && b.ExplainsFailedSteps && r.GVR == childapi.PipelineRuns.GVR && o.State == build.StateFailed {
		o.Message = b.explainFailure(ctx, u, o)
	}
	movedOn := resourceVersion != "" && child.obj.GetResourceVersion() != resourceVersion
	return observe.Build(o), movedOn, nil
}

// ObserveBuild observes the build child of a Building job, as build-status-changed would on
// an event about it (the sweep's BuildObserver). A job whose strategy has no child (external)
// is an error: only external CI can report on it.
func (b *Builds) ObserveBuild(ctx context.Context, job *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
	strategy := statemachine.BuildStrategy(job)
	r, ok := resourceOf(strategy)
	if !ok {
		return statemachine.Observation{}, fmt.Errorf("job %s/%s: build strategy %q has no build child to observe", job.Namespace, job.Name, strategy)
	}
	return b.ObserveChild(ctx, job, r, childapi.ChildName(job))
}

// ObserveObject observes a build child as an event carried it (the PipelineRun or Build in
// unstructured form), with no API call: see Observe.
func (b *Builds) ObserveObject(obj *unstructured.Unstructured) (statemachine.Observation, error) {
	o, err := Observe(obj)
	if err != nil {
		return statemachine.Observation{}, err
	}
	return observe.Build(o), nil
}

// ErrUnknownKind is wrapped by Observe for an object that is not a PipelineRun or a Build.
var ErrUnknownKind = errors.New("not a build child kind")

// Observe reads a PipelineRun (tekton.dev/v1) or a Build (build.openshift.io/v1) in
// unstructured form as the strategy's build.Observed. ObserveChild reads PipelineRuns this
// way; it observes Builds from the typed client without conversion.
func Observe(obj *unstructured.Unstructured) (build.Observed, error) {
	r, ok := childapi.ObservedKind(obj.GetKind(), obj.GetAPIVersion())
	if !ok {
		return build.Observed{}, fmt.Errorf("%w: %s %s %s/%s", ErrUnknownKind, obj.GetAPIVersion(), obj.GetKind(), obj.GetNamespace(), obj.GetName())
	}
	switch r.Kind {
	case childapi.PipelineRuns.Kind:
		var pr tekton.PipelineRun
		if err := dyntyped.FromUnstructured(obj.Object, &pr); err != nil {
			return build.Observed{}, fmt.Errorf("decode PipelineRun %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
		return tekton.Observe(&pr), nil
	default:
		var bld buildv1.Build
		if err := dyntyped.FromUnstructured(obj.Object, &bld); err != nil {
			return build.Observed{}, fmt.Errorf("decode Build %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
		return s2i.Observe(&bld), nil
	}
}
