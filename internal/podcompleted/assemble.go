package podcompleted

import (
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
)

// New assembles the function from its deployment settings. It never starts a build, so it
// links no build types.
func New(s functionenv.Settings) (function.Handler, error) {
	if err := functionenv.RequireRunnerImage("pod-completed", s); err != nil {
		return nil, err
	}
	x, store, err := functionenv.NewExecutor("pod-completed", s, nil)
	if err != nil {
		return nil, err
	}
	return Handler(x, store), nil
}
