package jobcreated

import (
	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
)

// New assembles the function from its deployment settings. job-created starts builds
// (Initializing -> Building), so it links the build types.
func New(s functionenv.Settings) (function.Handler, error) {
	if err := functionenv.RequireRunnerImage("job-created", s); err != nil {
		return nil, err
	}
	builds, err := buildchild.New(s)
	if err != nil {
		return nil, err
	}
	x, _, err := functionenv.NewExecutor("job-created", s, builds)
	if err != nil {
		return nil, err
	}
	return Handler(x), nil
}
