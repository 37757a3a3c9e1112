// Command release builds an nbv release (package internal/release): `make release` runs it.
//
//	go run ./hack/release -version v0.1.0 [-repo registry.example.com/nbv] [-push] [-out _output]
//
// Without -push the images are written as OCI image layouts under <out>/oci/ and referenced as
// <repo>/<name>@sha256:... (repo default registry.invalid/nbv: set it to the registry the
// layouts will be copied into). With -push they are pushed to <repo> (credentials from the
// Docker config, as crane and ko read them).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mlops-dev/nbv/internal/release"
)

func main() {
	version := flag.String("version", "", "release version, stamped into every binary and the images' tag (default: git describe --tags --always --dirty)")
	repo := flag.String("repo", "", "registry/repository prefix of the image references (default "+release.DefaultRepo+")")
	pushImages := flag.Bool("push", false, "push the images to -repo instead of writing OCI layouts")
	out := flag.String("out", "_output", "output directory")
	caCerts := flag.String("ca-certs", release.DefaultCACerts, "CA bundle put into every image")
	kubectl := flag.String("kubectl", "", "kubectl binary for kubectl kustomize (default: on PATH, else $NBV_CACHE/bin/kubectl)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *version == "" {
		described, err := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty").Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "release: no -version and git describe failed:", err)
			os.Exit(1)
		}
		*version = strings.TrimSpace(string(described))
	}
	if *pushImages && *repo == "" {
		fmt.Fprintln(os.Stderr, "release: -push needs -repo (KO_DOCKER_REPO), the registry to push to")
		os.Exit(2)
	}
	images, err := release.Build(ctx, release.Options{
		RepoRoot: ".",
		OutDir:   *out,
		Version:  *version,
		Repo:     *repo,
		Push:     *pushImages,
		CACerts:  *caCerts,
		Kubectl:  *kubectl,
		Log:      os.Stdout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("nbv %s, %d images:\n", *version, len(images))
	for _, img := range images {
		fmt.Printf("  %s\n", img.Ref)
	}
}
