package buildstatus

import (
	"net/http"

	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/externalci"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
)

// New assembles the function from its deployment settings: the handler of build child events,
// and the routes where external CI systems post signed build reports (internal/externalci).
func New(s functionenv.Settings) (function.Handler, map[string]http.Handler, error) {
	builds, err := buildchild.New(s)
	if err != nil {
		return nil, nil, err
	}
	builds.ExplainsFailedSteps = true
	x, _, err := functionenv.NewExecutor("build-status-changed", s, builds)
	if err != nil {
		return nil, nil, err
	}
	ci, err := externalci.New(s.Kube, x)
	if err != nil {
		return nil, nil, err
	}
	return Handler(x, builds), ci.Routes(), nil
}
