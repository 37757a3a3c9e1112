package jobcreated

import (
	"fmt"

	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/gitopshooks"
	"github.com/mlops-dev/nbv/internal/modelready"
)

// New assembles the function from its deployment settings. job-created starts builds
// (Initializing -> Building), so it links the build types, and performs the GitOps hooks of
// finished jobs, patching their targets through the dynamic client; it reads the target
// models of jobs with spec.modelValidation (internal/modelready), and looks for the earlier run
// a job that asks for reuse may take the verdict of (RunFinder).
func New(s functionenv.Settings) (function.Handler, error) {
	if err := functionenv.RequireRunnerImage("job-created", s); err != nil {
		return nil, err
	}
	builds, err := buildchild.New(s)
	if err != nil {
		return nil, err
	}
	x, store, err := functionenv.NewExecutor("job-created", s, builds)
	if err != nil {
		return nil, err
	}
	targets, err := dynamic.NewForConfig(s.Kube)
	if err != nil {
		return nil, fmt.Errorf("job-created: gitops hook targets client: %w", err)
	}
	models, err := modelready.New(s.Kube)
	if err != nil {
		return nil, fmt.Errorf("job-created: %w", err)
	}
	return HandlerWith(x, Options{Hooks: &gitopshooks.Runner{Store: store, Targets: targets}, Models: models,
		Runs: RunFinder{Jobs: store, RunnerImage: s.Pod.RunnerImage}}), nil
}
