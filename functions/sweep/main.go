// Command sweep is the scale-to-zero function a PingSource wakes every minute: it fails jobs
// whose deadline nobody else enforces and recovers jobs whose events were lost
// (internal/sweep).
package main

import (
	"log"

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
	handler, err := sweep.NewFunction(settings, opts)
	if err != nil {
		log.Fatal(err)
	}
	function.Main(handler, sweep.EventTypes...)
}
