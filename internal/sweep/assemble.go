package sweep

import (
	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
)

// NewFunction assembles the function from its deployment settings and opts. The sweep links
// the build types: it observes build children (lost build events), starts the build of a job
// job-created never saw, and deletes the build of a job out of time.
func NewFunction(s functionenv.Settings, opts Options) (function.Handler, error) {
	builds, err := buildchild.New(s)
	if err != nil {
		return nil, err
	}
	opts.Builds = builds
	x, store, err := functionenv.NewExecutor("sweep", s, builds)
	if err != nil {
		return nil, err
	}
	return Handler(x, store, opts), nil
}
