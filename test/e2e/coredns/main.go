// Command coredns is CoreDNS v1.13 with only the plugins the e2e node's cluster DNS needs:
// kubernetes (Service and Pod records from the API server), plus errors, log, health, ready,
// cache and loadbalance. Built the way CoreDNS documents custom builds (a main that imports
// the chosen plugin packages and calls coremain.Run), so the binary stays a fraction of the
// full build's size and compile time.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
