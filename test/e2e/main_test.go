//go:build e2e

// Package e2e runs this project on a real single-node cluster (package realcluster): real
// kubelet and containerd running the validation pods in the notebook image, Knative Eventing's
// own controllers, broker and ApiServerSource adapters delivering the events, the functions as
// Knative Services that Knative Serving scales from zero behind Traefik. `make e2e` runs it (as
// root: the node needs network namespaces and mounts).
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/realcluster"
)

// cluster is the cluster every test runs on; up in TestMain.
var cluster *realcluster.Cluster

// repoRoot is this checkout.
var repoRoot string

// nbvBin is bin/nbv built for the tests (ci-event).
var nbvBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: the node needs root (network namespaces, mounts, containerd)")
		return 1
	}
	wd, _ := os.Getwd()
	root, err := controlplane.FindRepoRoot(wd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	tmp, err := os.MkdirTemp("", "nbv-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	nbvBin = filepath.Join(tmp, "nbv")
	build := exec.Command("go", "build", "-o", nbvBin, "./cmd/nbv")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building nbv: %v\n%s", err, out)
		return 1
	}

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	start := time.Now()
	cluster, err = realcluster.Up(ctx, realcluster.Options{RepoRoot: repoRoot, Log: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: bring-up:", err)
		return 1
	}
	fmt.Printf("e2e: cluster up in %.1fs (kubeconfig %s)\n", time.Since(start).Seconds(), cluster.ControlPlane.KubeconfigPath())
	code := m.Run()
	if os.Getenv("NBV_E2E_KEEP") != "" {
		fmt.Println("e2e: NBV_E2E_KEEP set: the cluster stays up until this process is interrupted")
		<-ctx.Done()
	}
	stop := time.Now()
	if err := cluster.Down(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: tear-down:", err)
		return 1
	}
	fmt.Printf("e2e: torn down in %.1fs\n", time.Since(stop).Seconds())
	return code
}
