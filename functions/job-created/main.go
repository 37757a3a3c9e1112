// Command job-created is the scale-to-zero function woken by NotebookValidationJob add and
// update events: it starts a job's build or its validation pod (internal/jobcreated).
package main

import (
	"log"

	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/jobcreated"
)

func main() {
	settings, err := functionenv.Load()
	if err != nil {
		log.Fatal(err)
	}
	handler, err := jobcreated.New(settings)
	if err != nil {
		log.Fatal(err)
	}
	function.Main(handler, jobcreated.EventTypes...)
}
