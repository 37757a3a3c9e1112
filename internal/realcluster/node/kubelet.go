package node

import (
	"fmt"
	"os"
	"path/filepath"
)

// NodeName is the name the kubelet registers.
const NodeName = "node1"

// kubeletConfig is the KubeletConfiguration this machine needs (../shared/realnode): cgroup
// v1 allowed, the cgroupfs driver without QoS cgroups or node-allocatable enforcement, no
// eviction and no image garbage collection (images are imported, never pulled, so one that
// is collected cannot come back). The kubelet's own port listens on the node's address only,
// with anonymous requests allowed: the node is reachable over the veth from this machine and
// nowhere else, and the API server's logs/exec calls need no client certificate then.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://%[2]s
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failCgroupV1: false
failSwapOn: false
evictionHard:
  memory.available: "0%%"
  nodefs.available: "0%%"
  nodefs.inodesFree: "0%%"
  imagefs.available: "0%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
clusterDNS: [%[3]s]
clusterDomain: %[4]s
resolvConf: %[5]s
podLogsDir: %[6]s
serializeImagePulls: false
registerNode: true
`

// kubeletFiles writes the kubelet's configuration (and the empty upstream resolv.conf pods
// inherit: there is no DNS beyond the cluster's) and returns the kubelet's arguments.
func kubeletFiles(dir, address, kubeconfig string) ([]string, error) {
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, nil, 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", resolv, err)
	}
	logs := filepath.Join(dir, "pod-logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", logs, err)
	}
	config := filepath.Join(dir, "kubelet.yaml")
	body := fmt.Sprintf(kubeletConfig, NodeIP, address, DNSIP, ClusterDomain, resolv, logs)
	if err := os.WriteFile(config, []byte(body), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", config, err)
	}
	return []string{
		"--config=" + config,
		"--kubeconfig=" + kubeconfig,
		"--root-dir=" + filepath.Join(dir, "kubelet"),
		"--hostname-override=" + NodeName,
		"--node-ip=" + NodeIP,
		"--v=1",
	}, nil
}

// kubeProxyArgs runs kube-proxy in iptables mode. The conntrack limits are left alone:
// nf_conntrack_max is not per network namespace, and the host's is not ours to change.
func kubeProxyArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--hostname-override=" + NodeName,
		"--proxy-mode=iptables",
		"--cluster-cidr=" + PodCIDR,
		"--conntrack-max-per-core=0",
		"--conntrack-tcp-timeout-established=0",
		"--conntrack-tcp-timeout-close-wait=0",
		"--metrics-bind-address=127.0.0.1:10249",
		"--healthz-bind-address=127.0.0.1:10256",
	}
}

// corefile serves the cluster domain (and reverse lookups) from the API server. Names outside
// the cluster are refused: this machine has no upstream DNS for pods to use.
const corefile = `.:53 {
    errors
    ready 127.0.0.1:8181
    kubernetes %[1]s in-addr.arpa ip6.arpa {
        kubeconfig %[2]s
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
    loadbalance
}
`

func corednsArgs(dir, kubeconfig string) ([]string, error) {
	path := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(path, fmt.Appendf(nil, corefile, ClusterDomain, kubeconfig), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return []string{"-conf", path}, nil
}
