package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// PauseImage is the pod sandbox image; it must be imported before the first pod starts.
const PauseImage = "local.test/pause:1"

// containerdConfig is Debian's containerd 1.6 configured to keep everything under the node's
// directory (so it never touches a system containerd), with CRI's CNI pointed at our conflist,
// runc behind the oom_score_adj wrapper, and registries' settings read from a hosts directory.
const containerdConfig = `version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[4]q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = %[5]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[6]q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %[7]q
`

// plainHTTPHost is a hosts.toml of containerd's hosts directory that pulls the registry named
// by its directory over plain HTTP: only that host, every other registry keeps HTTPS.
const plainHTTPHost = `server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve"]
`

// runcWrapper runs runc after deleting process.oomScoreAdj from the bundle's config.json at
// create: this machine refuses to lower oom_score_adj (sandboxes ask for -998), and runc then
// fails with "can't get final child's PID from pipe: EOF".
const runcWrapper = `#!/bin/sh
prev=""
for a in "$@"; do
	if [ "$prev" = "--bundle" ] && [ -f "$a/config.json" ]; then
		# config.json is compact JSON: drop the key with the comma before it, or after it
		# when it comes first in its object.
		sed -i -e 's/,"oomScoreAdj":-\{0,1\}[0-9]*//' -e 's/"oomScoreAdj":-\{0,1\}[0-9]*,\{0,1\}//' "$a/config.json"
	fi
	prev="$a"
done
exec %s "$@"
`

// runcBinary is Debian's runc, which the wrapper runs.
const runcBinary = "/usr/sbin/runc"

// cniConflist is the pod network: one bridge, addresses from host-local, masquerade for
// traffic leaving the pod network, and portmap for hostPort.
func cniConflist(ipamDir string) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "nbv",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": PodCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": ipamDir,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// containerdFiles writes containerd's config, the runc wrapper, the CNI conflist and a hosts
// directory in which each of plainHTTP (host:port) is pulled over plain HTTP, under dir, and
// returns the config path and the socket address.
func containerdFiles(dir string, plainHTTP []string) (config, address string, err error) {
	cdir := filepath.Join(dir, "containerd")
	netd := filepath.Join(dir, "cni", "net.d")
	for _, d := range []string{cdir, netd, filepath.Join(dir, "cni", "ipam")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", "", fmt.Errorf("creating %s: %w", d, err)
		}
	}
	wrapper := filepath.Join(dir, "runc-wrapper")
	if err := os.WriteFile(wrapper, fmt.Appendf(nil, runcWrapper, runcBinary), 0o755); err != nil {
		return "", "", fmt.Errorf("writing runc wrapper: %w", err)
	}
	conflist, err := cniConflist(filepath.Join(dir, "cni", "ipam"))
	if err != nil {
		return "", "", fmt.Errorf("encoding CNI config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(netd, "10-nbv.conflist"), conflist, 0o644); err != nil {
		return "", "", fmt.Errorf("writing CNI config: %w", err)
	}
	hostsDir := filepath.Join(cdir, "certs.d")
	for _, host := range plainHTTP {
		d := filepath.Join(hostsDir, host)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", "", fmt.Errorf("creating %s: %w", d, err)
		}
		if err := os.WriteFile(filepath.Join(d, "hosts.toml"), fmt.Appendf(nil, plainHTTPHost, host), 0o644); err != nil {
			return "", "", fmt.Errorf("writing hosts.toml of %s: %w", host, err)
		}
	}
	address = filepath.Join(cdir, "containerd.sock")
	config = filepath.Join(cdir, "config.toml")
	body := fmt.Sprintf(containerdConfig, filepath.Join(cdir, "root"), filepath.Join(cdir, "state"),
		address, PauseImage, wrapper, netd, hostsDir)
	if err := os.WriteFile(config, []byte(body), 0o644); err != nil {
		return "", "", fmt.Errorf("writing containerd config: %w", err)
	}
	return config, address, nil
}

// waitContainerd polls `ctr version` until containerd answers on address.
func waitContainerd(ctx context.Context, address string, exited func() (bool, error)) error {
	for {
		if err := run(ctx, "ctr", "-a", address, "version"); err == nil {
			return nil
		}
		if gone, err := exited(); gone {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("containerd did not answer on %s: %w", address, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
