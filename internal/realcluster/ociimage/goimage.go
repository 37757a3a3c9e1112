package ociimage

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// GoImage is a Go main package to package as an image.
type GoImage struct {
	// Package is the import path of the main package; it may live in a dependency of Dir's module.
	Package string
	// Dir is the module directory `go build` runs in; empty means the current directory.
	Dir string
	// Ref is the image's ref; empty means RefFor(Package).
	Ref string
}

// goEnv is the environment of every image build: a static linux/amd64 binary, as ko builds.
var goEnv = []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}

// BuildGo compiles img.Package as ko does (-trimpath, -ldflags='-s -w', static linux/amd64) and
// writes it as an image tar into outDir, returning the tar's path. The binary goes to
// /ko-app/<last import path element> and is the entrypoint; the image runs as 65532 on a
// minimal base with the host's CA certificates. The tar is only rewritten when the binary, the CA
// bundle, the ref or the layout changed; Go's build cache keeps the compile itself cheap.
// VCS stamping is off so that a commit alone does not change the image.
func BuildGo(ctx context.Context, img GoImage, outDir string) (string, error) {
	if strings.TrimSpace(img.Package) == "" {
		return "", errors.New("build go image: no package")
	}
	ref := img.Ref
	if ref == "" {
		ref = RefFor(img.Package)
	}
	tag, err := parseRef(ref)
	if err != nil {
		return "", fmt.Errorf("build go image %s: %w", img.Package, err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("build go image %s: %w", img.Package, err)
	}
	work, err := os.MkdirTemp(outDir, ".build-")
	if err != nil {
		return "", fmt.Errorf("build go image %s: %w", img.Package, err)
	}
	defer os.RemoveAll(work)

	app := appName(img.Package)
	binPath := filepath.Join(work, app)
	if err := goBuild(ctx, img.Dir, img.Package, binPath); err != nil {
		return "", err
	}
	binary, err := os.ReadFile(binPath)
	if err != nil {
		return "", fmt.Errorf("build go image %s: read binary: %w", img.Package, err)
	}
	caCerts, err := os.ReadFile(caCertsPath)
	if err != nil {
		return "", fmt.Errorf("build go image %s: CA certificates for the base: %w", img.Package, err)
	}

	layers := []struct {
		comment string
		entries []entry
	}{
		{"minimal base: CA certificates, nonroot user", baseEntries(caCerts)},
		{"kodata contents, at $KO_DATA_PATH", koDataEntries()},
		{"go build output, at " + path.Join(appDir, app), appEntries(app, binary)},
	}
	cfg := goImageConfig(app)
	layout, err := layoutKey(cfg, layers[0].entries, layers[1].entries, layers[2].entries)
	if err != nil {
		return "", fmt.Errorf("build go image %s: %w", img.Package, err)
	}
	key := inputsKey([]byte(tag.String()), layout)
	tarPath := filepath.Join(outDir, archiveFile(ref))
	if archiveCurrent(tarPath, key) {
		return tarPath, nil
	}

	stacked := make([]namedLayer, 0, len(layers))
	for i, l := range layers {
		layer, err := gzipLayer(filepath.Join(work, fmt.Sprintf("layer%d.tar.gz", i)), gzip.DefaultCompression,
			func(tw *tar.Writer) error { return writeEntries(tw, l.entries) })
		if err != nil {
			return "", fmt.Errorf("build go image %s: %w", img.Package, err)
		}
		stacked = append(stacked, namedLayer{layer: layer, comment: l.comment})
	}
	image, err := assemble(ref, stacked, cfg)
	if err != nil {
		return "", err
	}
	if err := writeArchive(image, tag, tarPath, key); err != nil {
		return "", err
	}
	return tarPath, nil
}

// goImageConfig is the config ko gives an image on a distroless-like base.
func goImageConfig(app string) v1.Config {
	return v1.Config{
		Entrypoint: []string{path.Join(appDir, app)},
		Env: []string{
			"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + appDir,
			"SSL_CERT_FILE=" + caCertsPath,
			"KO_DATA_PATH=" + koDataPath,
		},
		User: fmt.Sprint(nonrootUID),
	}
}

// goBuild compiles pkg in dir into out.
func goBuild(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), goEnv...)
	if output, err := cmd.CombinedOutput(); err != nil {
		where := dir
		if where == "" {
			where = "the current directory"
		}
		return fmt.Errorf("go build %s in %s: %w\n%s", pkg, where, err, strings.TrimSpace(string(output)))
	}
	return nil
}
