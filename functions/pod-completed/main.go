// Command pod-completed is the scale-to-zero function woken by validation Pod updates: it
// records the notebook's result on the job, or replaces a pod lost to the infrastructure
// (internal/podcompleted).
package main

import (
	"log"

	"github.com/mlops-dev/nbv/internal/function"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/podcompleted"
)

func main() {
	settings, err := functionenv.Load()
	if err != nil {
		log.Fatal(err)
	}
	handler, err := podcompleted.New(settings)
	if err != nil {
		log.Fatal(err)
	}
	function.Main(handler, podcompleted.EventTypes...)
}
