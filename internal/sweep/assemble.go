package sweep

import (
	"fmt"

	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/gitopshooks"
	"github.com/mlops-dev/nbv/internal/jobcreated"
)

// NewFunction assembles the function from its deployment settings and opts. The sweep links
// the build types: it observes build children (lost build events), starts the build of a job
// job-created never saw, and deletes the build of a job out of time. It also removes the
// external-CI route's expired replay-guard Leases, and performs the GitOps hooks of finished
// jobs whose terminal event was lost. It looks for a run to reuse as job-created does.
func NewFunction(s functionenv.Settings, opts Options) (function.Handler, error) {
	if err := functionenv.RequireRunnerImage("sweep", s); err != nil {
		return nil, err
	}
	builds, err := buildchild.New(s)
	if err != nil {
		return nil, err
	}
	opts.Builds = builds
	dyn, err := dynamic.NewForConfig(s.Kube)
	if err != nil {
		return nil, fmt.Errorf("sweep: dynamic client: %w", err)
	}
	opts.ReplayLeases = cisignature.LeaseStore{Leases: cisignature.LeasesOver(dyn)}
	x, store, err := functionenv.NewExecutor("sweep", s, builds)
	if err != nil {
		return nil, err
	}
	opts.Hooks = &gitopshooks.Runner{Store: store, Targets: dyn}
	opts.Runs = jobcreated.RunFinder{Jobs: store, RunnerImage: s.Pod.RunnerImage}
	return Handler(x, store, opts), nil
}
