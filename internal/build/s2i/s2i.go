// Package s2i builds the OpenShift Build (and, for `oc start-build` re-runs, the
// BuildConfig) that builds a job's image, and reads a Build back as a build.Observed.
//
// Only OpenShift's typed API structs are used here; internal/buildchild creates and reads them
// with OpenShift's typed build client (github.com/openshift/client-go). The build deadline is completionDeadlineSeconds, so OpenShift enforces
// it and reports the timeout as an ordinary update of the Build.
//
// Strategy, decided without reading the repository:
//   - buildConfig.dockerfile with preferDockerfile, or with autoGenerateRequirements false:
//     docker strategy building that file (dockerStrategy.dockerfilePath);
//   - autoGenerateRequirements (the default): docker strategy with an inline Dockerfile that
//     searches the requirements candidates at build time (build.Plan.SearchingDockerfile) and
//     pip-installs the first one found on top of baseImage; a buildConfig.dockerfile that is
//     not preferred is not consulted, because an inline Dockerfile cannot fall back to it;
//   - autoGenerateRequirements false and no dockerfile: source (S2I) strategy with baseImage
//     as the builder image, whose own assemble script installs the dependencies.
package s2i

import (
	"fmt"
	"time"

	buildv1 "github.com/openshift/api/build/v1"
	imagev1 "github.com/openshift/api/image/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build"
)

// GVRs of the build API, for discovery and RBAC checks.
var (
	BuildGVR       = schema.GroupVersionResource{Group: "build.openshift.io", Version: "v1", Resource: "builds"}
	BuildConfigGVR = schema.GroupVersionResource{Group: "build.openshift.io", Version: "v1", Resource: "buildconfigs"}
	ImageStreamGVR = schema.GroupVersionResource{Group: "image.openshift.io", Version: "v1", Resource: "imagestreams"}
)

// strategyConfig keys read by this package.
const (
	// KeyOutputImage is an output image template (see build.ExpandOutputImage); the build
	// then pushes to that DockerImage instead of the ImageStreamTag <job>:latest.
	KeyOutputImage = "outputImage"
	// KeyServiceAccount runs the build (OpenShift's default is "builder").
	KeyServiceAccount = "serviceAccount"
)

// Options are deployment-wide defaults; the job's strategyConfig overrides them.
type Options struct {
	// OutputImage is an output image template. Empty means the ImageStreamTag
	// "<job>:latest" in the job's namespace, whose ImageStream (see ImageStream) the caller
	// creates when it is absent.
	OutputImage string
}

// Build is the Build called name that builds job's image. It is created directly, with no
// BuildConfig, so one create is the whole side effect.
func Build(job *v1alpha1.NotebookValidationJob, name string, opts Options) (*buildv1.Build, error) {
	spec, err := commonSpec(job, opts)
	if err != nil {
		return nil, err
	}
	return &buildv1.Build{
		TypeMeta:   metav1.TypeMeta{APIVersion: buildv1.GroupVersion.String(), Kind: "Build"},
		ObjectMeta: build.ChildMeta(job, name),
		Spec: buildv1.BuildSpec{
			CommonSpec:  spec,
			TriggeredBy: []buildv1.BuildTriggerCause{{Message: fmt.Sprintf("NotebookValidationJob %s/%s", job.Namespace, job.Name)}},
		},
	}, nil
}

// BuildConfig is the BuildConfig called name with the same build as Build. It has no
// triggers, so creating it starts nothing; it exists for re-running the build by hand
// (`oc start-build`). Builds started from it inherit its labels, so they reach
// build-status-changed like Build's.
func BuildConfig(job *v1alpha1.NotebookValidationJob, name string, opts Options) (*buildv1.BuildConfig, error) {
	spec, err := commonSpec(job, opts)
	if err != nil {
		return nil, err
	}
	return &buildv1.BuildConfig{
		TypeMeta:   metav1.TypeMeta{APIVersion: buildv1.GroupVersion.String(), Kind: "BuildConfig"},
		ObjectMeta: build.ChildMeta(job, name),
		Spec:       buildv1.BuildConfigSpec{RunPolicy: buildv1.BuildRunPolicySerial, CommonSpec: spec},
	}, nil
}

func commonSpec(job *v1alpha1.NotebookValidationJob, opts Options) (buildv1.CommonSpec, error) {
	bc, err := build.Spec(job)
	if err != nil {
		return buildv1.CommonSpec{}, err
	}
	timeout, err := build.Timeout(job)
	if err != nil {
		return buildv1.CommonSpec{}, err
	}
	plan, err := build.NewPlan(*bc, job.Spec.Notebook.Path)
	if err != nil {
		return buildv1.CommonSpec{}, err
	}
	deadline := int64(timeout.Round(time.Second) / time.Second)
	if deadline < 1 {
		deadline = 1
	}
	git := job.Spec.Notebook.Git
	spec := buildv1.CommonSpec{
		ServiceAccount: bc.StrategyConfig[KeyServiceAccount],
		Source: buildv1.BuildSource{
			Type: buildv1.BuildSourceGit,
			Git:  &buildv1.GitBuildSource{URI: git.URL, Ref: git.Ref},
		},
		CompletionDeadlineSeconds: &deadline,
	}
	if git.CredentialsSecret != "" {
		spec.Source.SourceSecret = &corev1.LocalObjectReference{Name: git.CredentialsSecret}
	}

	// NewPlan puts a Dockerfile first only when it is to be built (preferred, or the only
	// candidate because autoGenerateRequirements is false).
	switch first := plan.Candidates[0]; {
	case first.Dockerfile && bc.Dockerfile == "":
		// No Dockerfile named and nothing to generate: the builder image's assemble does it.
		spec.Strategy = buildv1.BuildStrategy{
			Type:           buildv1.SourceBuildStrategyType,
			SourceStrategy: &buildv1.SourceBuildStrategy{From: corev1.ObjectReference{Kind: "DockerImage", Name: plan.BaseImage}},
		}
	case first.Dockerfile:
		spec.Strategy = buildv1.BuildStrategy{
			Type:           buildv1.DockerBuildStrategyType,
			DockerStrategy: &buildv1.DockerBuildStrategy{DockerfilePath: first.Path},
		}
	default:
		df := plan.SearchingDockerfile()
		spec.Source.Dockerfile = &df
		spec.Strategy = buildv1.BuildStrategy{Type: buildv1.DockerBuildStrategyType, DockerStrategy: &buildv1.DockerBuildStrategy{}}
	}

	if spec.Output.To, err = outputTo(job, bc, opts); err != nil {
		return buildv1.CommonSpec{}, err
	}
	return spec, nil
}

// outputTag is the tag of the ImageStream a build pushes to when no output image is set.
const outputTag = "latest"

// outputTo is where the build pushes: the output image template (strategyConfig, else
// opts) as a DockerImage, else the ImageStreamTag "<job>:latest".
func outputTo(job *v1alpha1.NotebookValidationJob, bc *v1alpha1.BuildConfigSpec, opts Options) (*corev1.ObjectReference, error) {
	tmpl := bc.StrategyConfig[KeyOutputImage]
	if tmpl == "" {
		tmpl = opts.OutputImage
	}
	if tmpl == "" {
		return &corev1.ObjectReference{Kind: "ImageStreamTag", Name: job.Name + ":" + outputTag}, nil
	}
	img, err := build.ExpandOutputImage(tmpl, job)
	if err != nil {
		return nil, err
	}
	return &corev1.ObjectReference{Kind: "DockerImage", Name: img}, nil
}

// ImageStream is the ImageStream the job's build pushes to, for the caller to create when it
// is absent (OpenShift fails a build whose output ImageStream does not exist, and the
// existing operator creates it too). It carries the job's label and controller reference, so
// deleting the job deletes it. It is nil when the build pushes to an output image instead.
func ImageStream(job *v1alpha1.NotebookValidationJob, opts Options) (*imagev1.ImageStream, error) {
	bc, err := build.Spec(job)
	if err != nil {
		return nil, err
	}
	to, err := outputTo(job, bc, opts)
	if err != nil || to.Kind != "ImageStreamTag" {
		return nil, err
	}
	return &imagev1.ImageStream{
		TypeMeta:   metav1.TypeMeta{APIVersion: imagev1.GroupVersion.String(), Kind: "ImageStream"},
		ObjectMeta: build.ChildMeta(job, job.Name),
	}, nil
}
