// Command build-status-changed is the scale-to-zero function woken by updates of the build
// children job-created started (Tekton PipelineRuns, OpenShift Builds): it moves a Building
// job to BuildComplete or Failed, or records the build's progress (internal/buildstatus).
// External CI systems post signed build reports to its /ci route (internal/externalci).
package main

import (
	"log"

	"github.com/mlops-dev/nbv/internal/buildstatus"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
)

func main() {
	settings, err := functionenv.Load()
	if err != nil {
		log.Fatal(err)
	}
	handler, routes, err := buildstatus.New(settings)
	if err != nil {
		log.Fatal(err)
	}
	function.MainWithRoutes(handler, routes, buildstatus.EventTypes...)
}
