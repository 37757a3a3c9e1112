// Command sweep is the scale-to-zero function a PingSource wakes every minute: it fails jobs
// whose deadline nobody else enforces and recovers jobs whose events were lost
// (internal/sweep).
package main

import (
	"log"

	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/sweep"
)

func main() {
	settings, err := functionenv.Load()
	if err != nil {
		log.Fatal(err)
	}
	opts, err := sweep.OptionsFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	// The sweep links the build types: it observes build children (lost build events), starts
	// the build of a job job-created never saw, and deletes the build of a job out of time.
	builds, err := buildchild.New(settings)
	if err != nil {
		log.Fatal(err)
	}
	opts.Builds = builds
	x, store, err := functionenv.NewExecutor("sweep", settings, builds)
	if err != nil {
		log.Fatal(err)
	}
	function.Main(sweep.Handler(x, store, opts), sweep.EventTypes...)
}
