package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// The node's network, fixed: see the package comment.
const (
	NetnsName = "nbv-e2e"
	HostLink  = "nbv-h"
	NodeLink  = "nbv-n"
	HostIP    = "10.77.0.1"
	NodeIP    = "10.77.0.2"
	PodCIDR   = "10.88.0.0/16"
	// DNSIP is where pods send DNS queries: CoreDNS listens on the node's address.
	DNSIP = NodeIP
	// ClusterDomain is the DNS suffix of Services.
	ClusterDomain = "cluster.local"
	linkPrefix    = "/30"
)

// NetnsPath is the network namespace's bind mount, as `ip netns` makes it.
func NetnsPath() string { return "/var/run/netns/" + NetnsName }

// SetUpNetwork creates the node's network namespace and veth pair, the host's route to the pod
// network, and the sysctls kube-proxy and the bridge need inside the namespace. It first
// removes what a previous run may have left.
func SetUpNetwork(ctx context.Context) error {
	TearDownNetwork(ctx)
	steps := [][]string{
		{"ip", "netns", "add", NetnsName},
		{"ip", "link", "add", HostLink, "type", "veth", "peer", "name", NodeLink, "netns", NetnsName},
		{"ip", "addr", "add", HostIP + linkPrefix, "dev", HostLink},
		{"ip", "link", "set", HostLink, "up"},
		{"ip", "-n", NetnsName, "link", "set", "lo", "up"},
		{"ip", "-n", NetnsName, "addr", "add", NodeIP + linkPrefix, "dev", NodeLink},
		{"ip", "-n", NetnsName, "link", "set", NodeLink, "up"},
		{"ip", "-n", NetnsName, "route", "add", "default", "via", HostIP},
		{"ip", "route", "replace", PodCIDR, "via", NodeIP, "dev", HostLink},
		// Pods' traffic is routed through the node namespace, and Service IPs are rewritten by
		// iptables there, also for traffic between two pods on the bridge.
		{"nsenter", "--net=" + NetnsPath(), "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
		{"nsenter", "--net=" + NetnsPath(), "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1"},
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return fmt.Errorf("node network: %w", err)
		}
	}
	return nil
}

// TearDownNetwork removes the namespace (which takes the veth pair with it) and the host route.
// Errors are ignored: there may be nothing to remove.
func TearDownNetwork(ctx context.Context) {
	_ = run(ctx, "ip", "route", "del", PodCIDR)
	_ = run(ctx, "ip", "link", "del", HostLink)
	if _, err := os.Stat(NetnsPath()); err == nil {
		_ = run(ctx, "ip", "netns", "del", NetnsName)
	}
}

// inNetns is the command line that runs argv in the node's network namespace, keeping the
// host's mount namespace: kubelet's volume mounts must be visible to containerd and runc.
// (`ip netns exec` would give each process a mount namespace of its own.)
func inNetns(argv ...string) []string {
	return append([]string{"nsenter", "--net=" + NetnsPath(), "--"}, argv...)
}

func run(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
