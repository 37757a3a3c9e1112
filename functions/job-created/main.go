// Command job-created is the scale-to-zero function woken by NotebookValidationJob add and
// update events: it starts a job's build or its validation pod (internal/jobcreated).
package main

import (
	"log"

	"github.com/mlops-dev/nbv/internal/buildchild"
	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/jobcreated"
)

func main() {
	settings, err := functionenv.Load()
	if err != nil {
		log.Fatal(err)
	}
	// job-created starts builds (Initializing -> Building), so it links the build types.
	builds, err := buildchild.New(settings)
	if err != nil {
		log.Fatal(err)
	}
	x, _, err := functionenv.NewExecutor("job-created", settings, builds)
	if err != nil {
		log.Fatal(err)
	}
	function.Main(jobcreated.Handler(x), jobcreated.EventTypes...)
}
