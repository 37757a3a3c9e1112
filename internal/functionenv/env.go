// Package functionenv assembles what every function needs from its deployment: the Kubernetes
// client configuration (in-cluster, or $KUBECONFIG outside a cluster), the job store, the
// children it may create and the transition executor. The local stack builds the same
// executor with its own rest.Config through NewExecutor.
//
// Environment:
//   - KUBECONFIG: the API server outside a cluster (in a cluster the pod's ServiceAccount).
//   - NBV_RUNNER_IMAGE: the runner image of validation pods (functions that create pods).
//   - NBV_POD_FSGROUP: optional fsGroup of validation pods (leave unset on OpenShift).
//   - NBV_TEKTON_BUILDER_IMAGE: the buildah image of Tekton builds (default
//     tekton.DefaultBuildahImage, quay.io/buildah/stable:v1.39.0 pinned by digest; a job
//     selecting kaniko keeps kaniko's image).
//   - NBV_TEKTON_GIT_IMAGE: the image that clones the repository and writes the Dockerfile in
//     Tekton builds; needs git and sh (default tekton.DefaultGitImage,
//     docker.io/alpine/git:v2.49.1 pinned by digest).
//   - NBV_TEKTON_OUTPUT_IMAGE: the output image template of Tekton builds, with {namespace},
//     {name} and {uid} (default: the OpenShift internal registry,
//     image-registry.openshift-image-registry.svc:5000/{namespace}/{name}:{uid}).
//   - NBV_S2I_OUTPUT_IMAGE: the output image template of OpenShift builds (default: the
//     ImageStreamTag <job>:latest in the job's namespace).
//   - NBV_TEKTON_ALLOWED_BUILDER_IMAGES, NBV_TEKTON_ALLOWED_GIT_IMAGES: the only images a job's
//     strategyConfig builderImage and gitImage may name besides the deployment's own, one per
//     line (or separated by spaces or commas). The Service takes them from the ConfigMap
//     nbv-system/nbv-build-images, which the ValidatingAdmissionPolicy nbv-build-images also
//     reads, so that one list decides at `kubectl apply` and here.
//   - NBV_ARTIFACT_REPOSITORY, NBV_ARTIFACT_PUSH_SECRET, NBV_ARTIFACT_INSECURE: where the
//     validation pod's publish sidecar pushes each run's record, the dockerconfigjson Secret
//     (in the job's namespace) it alone mounts, and "true" for plain HTTP. The Service takes
//     them from the ConfigMap nbv-system/nbv-artifacts. Empty repository: no records.
//
// A job's buildConfig.strategyConfig overrides each build setting. The build settings are
// only read by functions that start builds (job-created), through package buildchild.
package functionenv

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mlops-dev/nbv/internal/apiconn"
	"github.com/mlops-dev/nbv/internal/build"
	"github.com/mlops-dev/nbv/internal/children"
	"github.com/mlops-dev/nbv/internal/jobaccess"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/transition"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// Settings are a function's deployment settings.
type Settings struct {
	// Kube reaches the API server.
	Kube *rest.Config
	// Pod configures validation pods: NBV_RUNNER_IMAGE (required by functions that create
	// pods) and NBV_POD_FSGROUP (optional; leave unset on OpenShift).
	Pod validationpod.Options
	// Builds are the deployment-wide defaults of build children.
	Builds BuildSettings
	// PodOTLPEndpoint (NBV_POD_OTLP_ENDPOINT) is where validation pods export their spans;
	// empty: they export none (children.Children.PodOTLPEndpoint).
	PodOTLPEndpoint string
}

// BuildSettings are the NBV_TEKTON_* and NBV_S2I_* variables; empty means the builder's
// default. They are plain strings here so that functions which never build link no build
// types; buildchild.OptionsFrom maps them onto the builders' options.
type BuildSettings struct {
	TektonBuilderImage string
	TektonGitImage     string
	TektonOutputImage  string
	S2IOutputImage     string
	// TektonAllowedBuilderImages and TektonAllowedGitImages are the installer's allowlists.
	TektonAllowedBuilderImages []string
	TektonAllowedGitImages     []string
}

// loadBuildSettings reads the build settings, refusing a value that could not be an image
// reference, so that a bad deployment fails at start instead of failing every job's build.
func loadBuildSettings() (BuildSettings, error) {
	var b BuildSettings
	for _, v := range []struct {
		env string
		dst *string
	}{
		{"NBV_TEKTON_BUILDER_IMAGE", &b.TektonBuilderImage},
		{"NBV_TEKTON_GIT_IMAGE", &b.TektonGitImage},
		{"NBV_TEKTON_OUTPUT_IMAGE", &b.TektonOutputImage},
		{"NBV_S2I_OUTPUT_IMAGE", &b.S2IOutputImage},
	} {
		val := os.Getenv(v.env)
		if val == "" {
			continue
		}
		if err := build.ValidImage(val); err != nil {
			return BuildSettings{}, fmt.Errorf("%s: %w", v.env, err)
		}
		*v.dst = val
	}
	for _, v := range []struct {
		env string
		dst *[]string
	}{
		{"NBV_TEKTON_ALLOWED_BUILDER_IMAGES", &b.TektonAllowedBuilderImages},
		{"NBV_TEKTON_ALLOWED_GIT_IMAGES", &b.TektonAllowedGitImages},
	} {
		for _, img := range strings.FieldsFunc(os.Getenv(v.env), func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
			if err := build.ValidImage(img); err != nil {
				return BuildSettings{}, fmt.Errorf("%s: %w", v.env, err)
			}
			*v.dst = append(*v.dst, img)
		}
	}
	return b, nil
}

// ClientQPS and ClientBurst bound a function instance's requests to the API server. One
// instance serves up to containerConcurrency (20) events at once, each a handful of requests;
// client-go's default (5 per second, burst 10) queued them for seconds under a burst (make
// bench: a 200-job burst took 96 s instead of 9 s). The API server protects itself with
// priority and fairness.
const (
	ClientQPS   = 100
	ClientBurst = 200
)

// Load reads the settings from the environment.
func Load() (Settings, error) {
	cfg, err := rest.InClusterConfig()
	if errors.Is(err, rest.ErrNotInCluster) {
		cfg, err = clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	}
	if err != nil {
		return Settings{}, fmt.Errorf("kubernetes client config (in cluster or $KUBECONFIG): %w", err)
	}
	cfg.QPS, cfg.Burst = ClientQPS, ClientBurst
	if cfg, err = apiconn.Configure(cfg); err != nil {
		return Settings{}, fmt.Errorf("kubernetes client: %w", err)
	}
	s := Settings{Kube: cfg, Pod: validationpod.Options{RunnerImage: os.Getenv("NBV_RUNNER_IMAGE")},
		PodOTLPEndpoint: os.Getenv("NBV_POD_OTLP_ENDPOINT")}
	if v := os.Getenv("NBV_POD_FSGROUP"); v != "" {
		g, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Settings{}, fmt.Errorf("NBV_POD_FSGROUP %q is not an integer: %w", v, err)
		}
		s.Pod.FSGroup = &g
	}
	if s.Builds, err = loadBuildSettings(); err != nil {
		return Settings{}, err
	}
	if s.Pod.Artifacts, err = loadArtifactSettings(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// RequireRunnerImage refuses settings without NBV_RUNNER_IMAGE for a function that creates
// validation pods, so that a deployment missing it never becomes ready instead of failing
// every job it touches.
func RequireRunnerImage(service string, s Settings) error {
	if s.Pod.RunnerImage == "" {
		return fmt.Errorf("%s creates validation pods: set NBV_RUNNER_IMAGE to the image holding nbv-runner", service)
	}
	return nil
}

// NewExecutor builds the executor of the function named service. builds may be nil for
// functions that never start a build.
func NewExecutor(service string, s Settings, builds children.BuildStarter) (*transition.Executor, *jobstore.Store, error) {
	store, err := jobstore.New(s.Kube)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", service, err)
	}
	reviews, err := jobaccess.NewReviewer(s.Kube)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", service, err)
	}
	access := &jobaccess.Checker{Reviews: reviews}
	return &transition.Executor{
		Store:   store,
		Effects: &children.Children{Store: store, Pod: s.Pod, Builds: builds, Access: access, PodOTLPEndpoint: s.PodOTLPEndpoint},
		Source:  "/nbv/" + service,
	}, store, nil
}

// loadArtifactSettings reads the registry for run records, refusing a repository that could
// not be one and a Secret name that could not be a Secret's, so that a bad deployment fails at
// start instead of every job's pod.
func loadArtifactSettings() (validationpod.ArtifactOptions, error) {
	a := validationpod.ArtifactOptions{
		Repository: strings.TrimSpace(os.Getenv("NBV_ARTIFACT_REPOSITORY")),
		Secret:     strings.TrimSpace(os.Getenv("NBV_ARTIFACT_PUSH_SECRET")),
	}
	if a.Repository != "" {
		if err := build.ValidImage(a.Repository); err != nil || strings.ContainsAny(a.Repository, "@") {
			return validationpod.ArtifactOptions{}, fmt.Errorf("NBV_ARTIFACT_REPOSITORY %q is not <registry>/<repository> (no tag or digest): %v", a.Repository, err)
		}
	}
	if a.Secret != "" {
		if errs := validation.IsDNS1123Subdomain(a.Secret); len(errs) > 0 {
			return validationpod.ArtifactOptions{}, fmt.Errorf("NBV_ARTIFACT_PUSH_SECRET %q is not a Secret name: %s", a.Secret, strings.Join(errs, "; "))
		}
	}
	if v := strings.TrimSpace(os.Getenv("NBV_ARTIFACT_INSECURE")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return validationpod.ArtifactOptions{}, fmt.Errorf("NBV_ARTIFACT_INSECURE %q is not true or false", v)
		}
		a.Insecure = b
	}
	return a, nil
}
