// Package functionenv assembles what every function needs from its deployment: the Kubernetes
// client configuration (in-cluster, or $KUBECONFIG outside a cluster), the job store, the
// children it may create and the transition executor. The local stack builds the same
// executor with its own rest.Config through NewExecutor.
package functionenv

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mlops-dev/nbv/internal/children"
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
}

// Load reads the settings from the environment.
func Load() (Settings, error) {
	cfg, err := rest.InClusterConfig()
	if errors.Is(err, rest.ErrNotInCluster) {
		cfg, err = clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	}
	if err != nil {
		return Settings{}, fmt.Errorf("kubernetes client config (in cluster or $KUBECONFIG): %w", err)
	}
	s := Settings{Kube: cfg, Pod: validationpod.Options{RunnerImage: os.Getenv("NBV_RUNNER_IMAGE")}}
	if v := os.Getenv("NBV_POD_FSGROUP"); v != "" {
		g, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Settings{}, fmt.Errorf("NBV_POD_FSGROUP %q is not an integer: %w", v, err)
		}
		s.Pod.FSGroup = &g
	}
	return s, nil
}

// NewExecutor builds the executor of the function named service. builds may be nil for
// functions that never start a build.
func NewExecutor(service string, s Settings, builds children.BuildStarter) (*transition.Executor, *jobstore.Store, error) {
	store, err := jobstore.New(s.Kube)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", service, err)
	}
	return &transition.Executor{
		Store:   store,
		Effects: &children.Children{Store: store, Pod: s.Pod, Builds: builds},
		Source:  "/nbv/" + service,
	}, store, nil
}
