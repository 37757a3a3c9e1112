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
	// Ref is the image's ref; empty means RefFor(Package). Only BuildGo uses it.
	Ref string
	// Arch is the GOARCH of the binary and the image's platform, linux/<Arch>; empty means amd64.
	Arch string
	// LDFlags are passed to the linker after ko's "-s -w", e.g. a -X that stamps a version.
	LDFlags string
	// AppDir is the directory the binary goes to and PATH ends with; empty means ko's
	// /ko-app. Kaniko, for one, must live in /kaniko, the directory it leaves out of the
	// images it builds.
	AppDir string
	// Root runs the image as root instead of ko's nonroot 65532: a builder that unpacks
	// base images over its own root file system needs it.
	Root bool
	// Tags are build tags, e.g. Prometheus' remove_all_sd, which leaves out the service
	// discovery plugins (and their cloud SDKs) a server that only receives OTLP never uses.
	Tags []string
}

// appDir is img.AppDir or ko's /ko-app.
func (img GoImage) appDir() string {
	if img.AppDir == "" {
		return defaultAppDir
	}
	return img.AppDir
}

// arch is img.Arch or amd64.
func (img GoImage) arch() string {
	if img.Arch == "" {
		return "amd64"
	}
	return img.Arch
}

// goLayer is one layer of a Go image, before it is written.
type goLayer struct {
	comment string
	entries []entry
}

// BuildGo compiles img.Package as ko does (-trimpath, -ldflags='-s -w', static linux binary)
// and writes it as an image tar into outDir, returning the tar's path. The binary goes to
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

	caCerts, err := os.ReadFile(caCertsPath)
	if err != nil {
		return "", fmt.Errorf("build go image %s: CA certificates for the base: %w", img.Package, err)
	}
	layers, cfg, err := compileGo(ctx, img, caCerts, work)
	if err != nil {
		return "", err
	}
	layout, err := layoutKey(cfg, layers[0].entries, layers[1].entries, layers[2].entries)
	if err != nil {
		return "", fmt.Errorf("build go image %s: %w", img.Package, err)
	}
	key := inputsKey([]byte(tag.String()), layout)
	tarPath := filepath.Join(outDir, archiveFile(ref))
	if archiveCurrent(tarPath, key) {
		return tarPath, nil
	}
	image, err := stackGo(img, layers, cfg, work, imageMeta{createdBy: "ociimage " + ref, arch: img.arch()})
	if err != nil {
		return "", err
	}
	if err := writeArchive(image, tag, tarPath, key); err != nil {
		return "", err
	}
	return tarPath, nil
}

// BuildGoOCI compiles img.Package as BuildGo does, for linux/img.Arch, and returns the image
// with OCI media types, laid out as BuildGo lays it out, on a base holding caCerts as its CA
// bundle. Nothing in it depends on where it will be published, so equal sources, flags and
// CA bundles give equal digests. Its layers are files under work, which must stay until the
// image has been written or pushed.
func BuildGoOCI(ctx context.Context, img GoImage, caCerts []byte, work string) (v1.Image, error) {
	if strings.TrimSpace(img.Package) == "" {
		return nil, errors.New("build go image: no package")
	}
	if len(caCerts) == 0 {
		return nil, fmt.Errorf("build go image %s: no CA certificates for the base", img.Package)
	}
	layers, cfg, err := compileGo(ctx, img, caCerts, work)
	if err != nil {
		return nil, err
	}
	return stackGo(img, layers, cfg, work, imageMeta{createdBy: "ociimage " + img.Package, arch: img.arch(), oci: true})
}

// compileGo builds img's binary into work and returns the three layers of its image (base,
// kodata, binary) and its config.
func compileGo(ctx context.Context, img GoImage, caCerts []byte, work string) ([]goLayer, v1.Config, error) {
	app := appName(img.Package)
	binPath := filepath.Join(work, app)
	if err := goBuild(ctx, img, binPath); err != nil {
		return nil, v1.Config{}, err
	}
	binary, err := os.ReadFile(binPath)
	if err != nil {
		return nil, v1.Config{}, fmt.Errorf("build go image %s: read binary: %w", img.Package, err)
	}
	return []goLayer{
		{"minimal base: CA certificates, nonroot user", baseEntries(caCerts)},
		{"kodata contents, at $KO_DATA_PATH", koDataEntries()},
		{"go build output, at " + path.Join(img.appDir(), app), appEntries(img.appDir(), app, binary)},
	}, goImageConfig(img, app), nil
}

// stackGo writes layers as gzipped files under work and assembles them into an image.
func stackGo(img GoImage, layers []goLayer, cfg v1.Config, work string, meta imageMeta) (v1.Image, error) {
	stacked := make([]namedLayer, 0, len(layers))
	for i, l := range layers {
		layer, err := gzipLayer(filepath.Join(work, fmt.Sprintf("layer%d.tar.gz", i)), gzip.DefaultCompression,
			func(tw *tar.Writer) error { return writeEntries(tw, l.entries) })
		if err != nil {
			return nil, fmt.Errorf("build go image %s: %w", img.Package, err)
		}
		stacked = append(stacked, namedLayer{layer: layer, comment: l.comment})
	}
	return assemble(stacked, cfg, meta)
}

// goImageConfig is the config ko gives an image on a distroless-like base, with img's
// binary directory and user.
func goImageConfig(img GoImage, app string) v1.Config {
	user := fmt.Sprint(nonrootUID)
	if img.Root {
		user = "0"
	}
	return v1.Config{
		Entrypoint: []string{path.Join(img.appDir(), app)},
		Env: []string{
			"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + img.appDir(),
			"SSL_CERT_FILE=" + caCertsPath,
			"KO_DATA_PATH=" + koDataPath,
		},
		User: user,
	}
}

// goBuild compiles img.Package in img.Dir into out, a static linux binary linked with ko's
// flags and img.LDFlags after them, with img.Tags.
func goBuild(ctx context.Context, img GoImage, out string) error {
	dir, pkg, arch := img.Dir, img.Package, img.arch()
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=" + strings.TrimSpace("-s -w "+img.LDFlags)}
	if len(img.Tags) > 0 {
		args = append(args, "-tags="+strings.Join(img.Tags, ","))
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", out, pkg)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if output, err := cmd.CombinedOutput(); err != nil {
		where := dir
		if where == "" {
			where = "the current directory"
		}
		return fmt.Errorf("go build %s for linux/%s in %s: %w\n%s", pkg, arch, where, err, strings.TrimSpace(string(output)))
	}
	return nil
}
