// Command sweep is the scale-to-zero function a PingSource wakes every minute: it fails jobs
// whose deadline nobody else enforces and recovers jobs whose events were lost
// (internal/sweep), and counts the events the broker dead-lettered (internal/deadletter).
package main

import (
	"log"

	"github.com/mlops-dev/nbv/internal/deadletter"
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
	// The sweep also receives the dead-letter Broker's events (config/broker/triggers.yaml).
	function.MainWithRoutes(handler, deadletter.Routes(), sweep.EventTypes...)
}
