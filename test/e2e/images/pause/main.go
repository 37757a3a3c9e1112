// Command pause is the pod sandbox image of the e2e node (ref local.test/pause:1): it holds the
// pod's namespaces open and does nothing else until the runtime stops it.
//
// Unlike Kubernetes' own pause it reaps no orphans: pods on the e2e node do not share a PID
// namespace, so every container's processes are reaped by their own init.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
