// Package node runs one real Kubernetes node on this machine, for the end-to-end tests: a
// network namespace joined to the host by a veth pair, Debian's containerd + runc + CNI plugins,
// and kubelet, kube-proxy and CoreDNS (built by `test/controlplane/build.sh node`) inside that
// namespace.
//
// The layout, fixed so a run can clean up after a killed one:
//
//	host (root netns)  nbv-h 10.77.0.1/30   kube-apiserver binds here (controlplane.Options.Address)
//	node netns nbv-e2e nbv-n 10.77.0.2/30   kubelet :10250, CoreDNS :53, containerd, kube-proxy
//	pods               cni0 10.88.0.0/16    bridge + host-local; the host routes 10.88/16 via the node
//
// Pods resolve names through CoreDNS at the node's address (kubelet clusterDNS), and reach
// Services through kube-proxy's iptables rules in the node namespace. The API server reaches
// the kubelet (logs, exec) and webhook pods over the veth.
//
// What this machine needs, found by hand (../shared/realnode): cgroup v1 with the cgroupfs
// driver and no QoS cgroups, eviction off, and runc behind a wrapper that drops
// process.oomScoreAdj, because lowering oom_score_adj is refused here.
package node
