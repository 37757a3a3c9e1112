package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mlops-dev/nbv/internal/local/childproc"
)

// DefaultDir holds the node's state: containerd's images and snapshots, the kubelet's root,
// pod logs. Fixed, so a run can clean up what a killed run left.
const DefaultDir = "/var/lib/nbv-e2e"

// Options configures Start.
type Options struct {
	// Dir is the node's state directory, emptied first. Default DefaultDir.
	Dir string
	// BinDir holds kubelet, kube-proxy and coredns (`test/controlplane/build.sh node`).
	BinDir string
	// Kubeconfig is an admin kubeconfig whose server is reachable from the node's namespace
	// (the API server bound to HostIP). kubelet, kube-proxy and CoreDNS use it.
	Kubeconfig string
	// PlainHTTPRegistries (host:port) are pulled from over plain HTTP; every other registry
	// over HTTPS.
	PlainHTTPRegistries []string
	// StartTimeout bounds Start. Default 2 minutes.
	StartTimeout time.Duration
}

// Node is a running node.
type Node struct {
	dir     string
	address string
	procs   []*childproc.Process // start order
}

// Prepare removes what a previous run left in dir and sets up the node's network. It comes
// before the control plane starts, since the API server binds to HostIP.
func Prepare(ctx context.Context, dir string) error {
	if dir == "" {
		dir = DefaultDir
	}
	if err := Clean(ctx, dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("node: creating %s: %w", dir, err)
	}
	return SetUpNetwork(ctx)
}

// Start starts containerd, CoreDNS, kube-proxy and the kubelet in the node's namespace (made
// by Prepare), and returns once the Node is Ready and CoreDNS answers. Images are imported
// afterwards (Address), before any pod needs them.
func Start(ctx context.Context, opts Options) (_ *Node, err error) {
	if opts.Dir == "" {
		opts.Dir = DefaultDir
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	for _, b := range []string{"kubelet", "kube-proxy", "coredns"} {
		if st, err := os.Stat(filepath.Join(opts.BinDir, b)); err != nil || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("node: %s not found in %s; run make node-binaries", b, opts.BinDir)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	n := &Node{dir: opts.Dir}
	defer func() {
		if err != nil {
			_ = n.Stop()
		}
	}()

	config, address, err := containerdFiles(n.dir, opts.PlainHTTPRegistries)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.address = address
	containerd, err := n.start("containerd", "/usr/bin/containerd", "--config", config)
	if err != nil {
		return nil, err
	}
	if err := waitContainerd(ctx, address, containerd.Exited); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}

	dnsArgs, err := corednsArgs(n.dir, opts.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if _, err := n.start("coredns", filepath.Join(opts.BinDir, "coredns"), dnsArgs...); err != nil {
		return nil, err
	}
	if _, err := n.start("kube-proxy", filepath.Join(opts.BinDir, "kube-proxy"), kubeProxyArgs(opts.Kubeconfig)...); err != nil {
		return nil, err
	}
	kubeletArgs, err := kubeletFiles(n.dir, address, opts.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	kubelet, err := n.start("kubelet", filepath.Join(opts.BinDir, "kubelet"), kubeletArgs...)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, opts.Kubeconfig, kubelet.Exited); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if err := n.waitDNS(ctx); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return n, nil
}

// Address is containerd's socket, for `ctr -a` (image imports).
func (n *Node) Address() string { return n.address }

// Dir is the node's state directory; each component logs to <name>.log there.
func (n *Node) Dir() string { return n.dir }

// start runs bin in the node's network namespace, logging to <dir>/<name>.log.
func (n *Node) start(name, bin string, args ...string) (*childproc.Process, error) {
	argv := inNetns(append([]string{bin}, args...)...)
	p, err := childproc.Start(childproc.Spec{
		Name: name, Bin: "/usr/bin/" + argv[0], Args: argv[1:], Dir: n.dir,
		LogPath: filepath.Join(n.dir, name+".log"),
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.procs = append(n.procs, p)
	return p, nil
}

// Stop stops the components in reverse order, kills every container, and removes the network
// namespace. The state directory is kept for its logs until the next Start.
func (n *Node) Stop() error {
	var errs []error
	for i := len(n.procs) - 1; i >= 0; i-- {
		if err := n.procs[i].Stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	n.procs = nil
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := killLeftovers(ctx, n.dir); err != nil {
		errs = append(errs, err)
	}
	TearDownNetwork(ctx)
	return errors.Join(errs...)
}

// waitReady polls the Node object until its Ready condition is True.
func waitReady(ctx context.Context, kubeconfig string, exited func() (bool, error)) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("reading %s: %w", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	last := "not registered"
	for {
		node, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady {
					if c.Status == corev1.ConditionTrue {
						return nil
					}
					last = fmt.Sprintf("Ready=%s: %s", c.Status, c.Message)
				}
			}
		}
		if gone, err := exited(); gone {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready (%s): %w", NodeName, last, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitDNS resolves the kubernetes Service through CoreDNS on the node's address, as a pod would.
func (n *Node) waitDNS(ctx context.Context) error {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(DNSIP, "53"))
	}}
	name := "kubernetes.default.svc." + ClusterDomain
	for {
		lookup, cancel := context.WithTimeout(ctx, time.Second)
		addrs, err := r.LookupHost(lookup, name)
		cancel()
		if err == nil && len(addrs) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CoreDNS on %s does not resolve %s (%v): %w", DNSIP, name, err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
