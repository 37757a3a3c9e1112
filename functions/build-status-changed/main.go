// Command build-status-changed is the scale-to-zero function woken by updates of the build
// children job-created started (Tekton PipelineRuns, OpenShift Builds): it moves a Building
// job to BuildComplete or Failed, or records the build's progress (internal/buildstatus).
package main

import (
	"log"

	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/buildstatus"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
)

func main() {
	settings, err := functionenv.Load()
	if err != nil {
		log.Fatal(err)
	}
	builds, err := buildchild.New(settings)
	if err != nil {
		log.Fatal(err)
	}
	x, _, err := functionenv.NewExecutor("build-status-changed", settings, builds)
	if err != nil {
		log.Fatal(err)
	}
	handler, types := buildstatus.Handler(x, builds), buildstatus.EventTypes

	// Second route: signed external-CI build events (internal/externalci) mount here, by
	// event type, next to the build child events above.

	function.Main(handler, types...)
}
