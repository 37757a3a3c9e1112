// Package realcluster brings up the e2e cluster of `make e2e`: a real control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) bound to the host end of the
// node's veth, one real node (package node), this project's, Knative's, Traefik's, Tekton's,
// kaniko's, the registry's, Prometheus' and Jaeger's images imported into the node's
// containerd (package ociimage), and Knative Eventing and Serving, Traefik as Serving's
// ingress, Tekton Pipelines, a registry (to which the notebook image is pushed, and from which
// the node pulls it), Prometheus and Jaeger (where every function, validation pod and Tekton
// sends its telemetry) and this project's functions installed on it (package knative). Down
// tears all of it down.
package realcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/realcluster/knative"
	"github.com/mlops-dev/nbv/internal/realcluster/node"
	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

// Options configures Up.
type Options struct {
	// RepoRoot is this project's checkout.
	RepoRoot string
	// BinDir holds the control-plane and node binaries. Default controlplane.DefaultBinDir().
	BinDir string
	// NodeDir is the node's state directory. Default node.DefaultDir.
	NodeDir string
	// ImageDir holds the image tars (and the notebook image's Debian root), reused by the
	// next run. Default <NBV_CACHE>/e2e-images.
	ImageDir string
	// Log receives one line per bring-up step with its duration. Default io.Discard.
	Log io.Writer
}

// Cluster is a running e2e cluster.
type Cluster struct {
	ControlPlane *controlplane.ControlPlane
	Node         *node.Node
	// NotebookImageDigest is the digest NotebookImage was pushed with, for jobs that pin it.
	NotebookImageDigest string
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
	if opts.ImageDir == "" {
		opts.ImageDir = filepath.Join(filepath.Dir(opts.BinDir), "e2e-images")
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
			Dir:                 opts.NodeDir,
			BinDir:              opts.BinDir,
			Kubeconfig:          c.ControlPlane.KubeconfigPath(),
			PlainHTTPRegistries: []string{Registry},
		})
		return err
	}); err != nil {
		return nil, err
	}

	platform, images, err := platformManifests(ctx, opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	functions, functionImages, err := knative.FunctionManifests(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	if err := knative.SetConfigData(functions, FunctionsNamespace, "nbv-build-images", buildImages); err != nil {
		return nil, err
	}
	if err := knative.SetConfigData(functions, FunctionsNamespace, "nbv-artifacts", runRecords); err != nil {
		return nil, err
	}
	if err := knative.SetContainerEnv(functions, FunctionsNamespace, telemetry); err != nil {
		return nil, err
	}
	for _, p := range functionImages {
		images = append(images, ociimage.GoImage{Package: p, Dir: opts.RepoRoot})
	}
	if err := distinctRefs(images); err != nil {
		return nil, err
	}
	var notebookTar string
	if err := step(fmt.Sprintf("images (%d, imported)", len(images)+1), func() error {
		notebookTar, err = c.buildImages(ctx, opts.ImageDir, images)
		return err
	}); err != nil {
		return nil, err
	}
	cfg := c.RESTConfig()
	if err := step("eventing, serving, traefik, tekton, registry, prometheus, jaeger", func() error {
		return knative.InstallPlatform(ctx, cfg, platform...)
	}); err != nil {
		return nil, err
	}
	if err := step("notebook image (pushed)", func() error {
		digest, err := pushNotebook(ctx, notebookTar)
		c.NotebookImageDigest = digest
		return err
	}); err != nil {
		return nil, err
	}
	if err := step("nbv functions", func() error {
		if err := knative.Install(ctx, cfg, functions); err != nil {
			return err
		}
		if err := knative.WaitAvailable(ctx, cfg, FunctionsNamespace); err != nil {
			return err
		}
		return waitKnativeReady(ctx, cfg, FunctionsNamespace)
	}); err != nil {
		return nil, err
	}
	return c, nil
}

const (
	// knativeModuleDir is the Go module pinning Knative Eventing and Serving, relative to the
	// repository.
	knativeModuleDir = "test/e2e/knative"
	// traefikModuleDir is the Go module pinning Traefik.
	traefikModuleDir = "test/e2e/traefik"
	// tektonModuleDir pins Tekton Pipelines, kanikoModuleDir kaniko, registryModuleDir the
	// registry (shared with the local stack's).
	tektonModuleDir   = "test/e2e/tekton"
	kanikoModuleDir   = "test/e2e/kaniko"
	registryModuleDir = "hack/tools/registry"
	// jaegerModuleDir pins Jaeger v2; prometheusModuleDir Prometheus (promtool's module).
	jaegerModuleDir     = "test/e2e/jaeger"
	prometheusModuleDir = "hack/tools/prometheus"
	// FunctionsNamespace is where the functions, the Broker and the event sources run.
	FunctionsNamespace = "nbv-system"
)

// buildImages builds the pause image, the Go images and the notebook image into dir, imports
// the first two kinds into the node's containerd as soon as each is built, and returns the
// notebook image's tar, which is pushed to the registry once it runs. The notebook image
// (debootstrap: network-bound) is assembled while the Go images compile (CPU-bound), and
// imports (I/O-bound) overlap both.
func (c *Cluster) buildImages(ctx context.Context, dir string, images []ociimage.GoImage) (string, error) {
	g, ctx := errgroup.WithContext(ctx)
	built := make(chan string)
	send := func(tar string) error {
		select {
		case built <- tar:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var notebookTar string
	g.Go(func() error {
		var err error
		notebookTar, err = ociimage.Notebook(ctx, filepath.Join(dir, "notebook-rootfs"), dir)
		return err
	})
	g.Go(func() error {
		defer close(built)
		tar, err := ociimage.Pause(ctx, dir)
		if err != nil {
			return err
		}
		if err := send(tar); err != nil {
			return err
		}
		for _, img := range images {
			tar, err := ociimage.BuildGo(ctx, img, dir)
			if err != nil {
				return err
			}
			if err := send(tar); err != nil {
				return err
			}
		}
		return nil
	})
	g.Go(func() error {
		for tar := range built {
			if err := ociimage.Import(ctx, "ctr", c.Node.Address(), tar); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return "", err
	}
	return notebookTar, nil
}

// pushNotebook pushes the notebook image to the registry as NotebookImage and returns its
// digest. The registry's pod is ready by now, but kube-proxy may not have programmed its node
// port yet: a refused connection is retried for a while.
func pushNotebook(ctx context.Context, tar string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		digest, err := ociimage.PushPlainHTTP(ctx, tar, ociimage.NotebookRef, NotebookImage)
		if err == nil {
			return digest.String(), nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(time.Second):
		}
	}
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
