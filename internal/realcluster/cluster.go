// Package realcluster brings up the e2e cluster of `make e2e`: a real control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) bound to the host end of the
// node's veth, one real node (package node), this project's and Knative Eventing's images
// imported into the node's containerd (package ociimage), and Knative Eventing with this
// project's functions installed on it (package knative). Down tears all of it down.
package realcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/realcluster/node"
)

// Options configures Up.
type Options struct {
	// RepoRoot is this project's checkout.
	RepoRoot string
	// BinDir holds the control-plane and node binaries. Default controlplane.DefaultBinDir().
	BinDir string
	// NodeDir is the node's state directory. Default node.DefaultDir.
	NodeDir string
	// Log receives one line per bring-up step with its duration. Default io.Discard.
	Log io.Writer
}

// Cluster is a running e2e cluster.
type Cluster struct {
	ControlPlane *controlplane.ControlPlane
	Node         *node.Node
	// Steps is how long each bring-up step took, in order.
	Steps []Step
}

// Step is one timed part of Up.
type Step struct {
	Name     string
	Duration time.Duration
}

// Up brings the cluster up. On error, whatever was started is torn down again.
func Up(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.BinDir == "" {
		opts.BinDir = controlplane.DefaultBinDir()
	}
	if opts.NodeDir == "" {
		opts.NodeDir = node.DefaultDir
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	c := &Cluster{}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Down())
		}
	}()
	step := func(name string, f func() error) error {
		start := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		c.Steps = append(c.Steps, Step{Name: name, Duration: time.Since(start)})
		fmt.Fprintf(opts.Log, "e2e: %-28s %6.1fs\n", name, time.Since(start).Seconds())
		return nil
	}

	if err := step("node network", func() error { return node.Prepare(ctx, opts.NodeDir) }); err != nil {
		return nil, err
	}
	if err := step("control plane", func() error {
		c.ControlPlane, err = controlplane.Start(ctx, controlplane.Options{
			BinDir:            opts.BinDir,
			RepoRoot:          opts.RepoRoot,
			Address:           node.HostIP,
			ControllerManager: true,
			Scheduler:         true,
		})
		return err
	}); err != nil {
		return nil, err
	}
	if err := step("node", func() error {
		c.Node, err = node.Start(ctx, node.Options{
			Dir:        opts.NodeDir,
			BinDir:     opts.BinDir,
			Kubeconfig: c.ControlPlane.KubeconfigPath(),
		})
		return err
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// RESTConfig is an admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return c.ControlPlane.RESTConfig() }

// Down stops the node, then the control plane.
func (c *Cluster) Down() error {
	var errs []error
	if c.Node != nil {
		errs = append(errs, c.Node.Stop())
	}
	if c.ControlPlane != nil {
		errs = append(errs, c.ControlPlane.Stop())
	}
	return errors.Join(errs...)
}
