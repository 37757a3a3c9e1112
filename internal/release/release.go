// Package release builds what installs nbv on a cluster, offline and reproducibly: every image
// that config/ and eventsources/ name with ko:// built the way ko builds it (static binary on a
// minimal base, no base image pulled), for each release architecture, stamped with the release
// version, as one OCI image index per image; then the manifests with every ko:// reference
// replaced by <repo>/<name>@sha256:<index digest>, and the Helm values naming the same images.
//
// The images are either pushed to a registry or, for an air-gapped install, written as one OCI
// image layout per image, which crane, skopeo and oras copy into any registry unchanged (same
// digests). Nothing in an image depends on where it is published, so the digests, hence the
// manifests up to their repository prefix, depend only on the sources, the Go toolchain, the
// version and the CA bundle.
package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/sync/errgroup"

	"github.com/mlops-dev/nbv/internal/realcluster/ociimage"
)

const (
	// modulePath is this module: a release builds images from its own packages only.
	modulePath = "github.com/mlops-dev/nbv"
	// versionVariable is what -X sets so that every binary reports the release version.
	versionVariable = modulePath + "/internal/version.Version"

	// DefaultRepo is the repository prefix of the references when none is given: a name that
	// cannot resolve (RFC 6761's .invalid), so that a release.yaml applied without copying
	// its images fails at the pull instead of pulling from somewhere unintended.
	DefaultRepo = "registry.invalid/nbv"
	// DefaultCACerts is the build machine's CA bundle, which goes into every image (Debian's
	// ca-certificates package writes it here).
	DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"

	// Output files, relative to Options.OutDir.
	ReleaseFile    = "release.yaml"
	HelmValuesFile = "helm-values.yaml"
	LayoutDir      = "oci"
)

// DefaultArches are the architectures every image is built for.
var DefaultArches = []string{"amd64", "arm64"}

// ManifestDirs are the kustomizations a release installs, in the order they are applied.
var ManifestDirs = []string{"config", "eventsources"}

// Options say what to build and where it goes.
type Options struct {
	// RepoRoot is this module's directory: its kustomizations are read and its packages built there.
	RepoRoot string
	// OutDir receives release.yaml, helm-values.yaml and, unless Push, the layouts under oci/.
	OutDir string
	// Version is stamped into every binary and is the tag of every image; it must be a valid tag.
	Version string
	// Repo is the registry and repository prefix the images are referenced (and pushed) under:
	// image <name> is <Repo>/<name>. Empty means DefaultRepo.
	Repo string
	// Push sends the images to Repo instead of writing OCI layouts.
	Push bool
	// CACerts is the CA bundle file put into every image; empty means DefaultCACerts.
	CACerts string
	// Kubectl runs `kubectl kustomize`; empty means kubectl on PATH, else $NBV_CACHE/bin/kubectl.
	Kubectl string
	// Arches overrides DefaultArches.
	Arches []string
	// Push options, such as authentication; the default authenticates from the Docker config.
	Remote []RemoteOption
	// Log receives one line per step; nil discards them.
	Log io.Writer
}

// Image is one image of a release.
type Image struct {
	// Name is the last element of Package, as ko names binaries and (with --base-import-paths)
	// repositories: job-created, nbv-runner, ...
	Name    string
	Package string
	// Digest is the image index's; Ref is <repo>/<Name>@<Digest>.
	Digest v1.Hash
	Ref    string
}

// Build builds the release opts describe and returns its images, sorted by name.
func Build(ctx context.Context, opts Options) ([]Image, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	manifests, err := readManifests(ctx, opts)
	if err != nil {
		return nil, err
	}
	images, err := imagesNamed(manifests)
	if err != nil {
		return nil, err
	}
	caCerts, err := os.ReadFile(opts.CACerts)
	if err != nil {
		return nil, fmt.Errorf("release: CA bundle for the images: %w", err)
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	// The layers are files here until the images are written or pushed.
	work, err := os.MkdirTemp(opts.OutDir, ".release-")
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	defer os.RemoveAll(work)

	indexes, err := buildIndexes(ctx, opts, images, caCerts, work)
	if err != nil {
		return nil, err
	}
	for i := range images {
		if images[i].Digest, err = indexes[i].Digest(); err != nil {
			return nil, fmt.Errorf("release: image %s: %w", images[i].Name, err)
		}
		images[i].Ref = opts.Repo + "/" + images[i].Name + "@" + images[i].Digest.String()
	}
	if opts.Push {
		err = push(ctx, opts, images, indexes)
	} else {
		err = writeLayouts(opts, images, indexes)
	}
	if err != nil {
		return nil, err
	}
	if err := writeManifests(opts, manifests, images); err != nil {
		return nil, err
	}
	return images, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.RepoRoot == "" || o.OutDir == "" {
		return o, errors.New("release: the repository root and the output directory are both needed")
	}
	if _, err := name.NewTag("example.invalid/nbv:"+o.Version, name.StrictValidation); err != nil || o.Version == "" {
		return o, fmt.Errorf("release: version %q is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", o.Version)
	}
	if o.Repo == "" {
		o.Repo = DefaultRepo
	}
	o.Repo = strings.TrimRight(o.Repo, "/")
	if _, err := name.NewRepository(o.Repo+"/x", name.StrictValidation); err != nil {
		return o, fmt.Errorf("release: repository %q: %w", o.Repo, err)
	}
	if o.CACerts == "" {
		o.CACerts = DefaultCACerts
	}
	if len(o.Arches) == 0 {
		o.Arches = DefaultArches
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o, nil
}

// imagesNamed returns the images the manifests name with ko://, sorted by name. Two packages
// with the same last element would be pushed to the same repository: an error.
func imagesNamed(manifests []manifest) ([]Image, error) {
	byName := map[string]string{}
	for _, m := range manifests {
		for _, pkg := range m.koPackages {
			if !strings.HasPrefix(pkg, modulePath+"/") {
				return nil, fmt.Errorf("release: %s names ko://%s, which is not a package of %s", m.where, pkg, modulePath)
			}
			n := path.Base(pkg)
			if other, ok := byName[n]; ok && other != pkg {
				return nil, fmt.Errorf("release: %s and %s would both be image %s", other, pkg, n)
			}
			byName[n] = pkg
		}
	}
	if len(byName) == 0 {
		return nil, errors.New("release: the manifests name no ko:// image")
	}
	var images []Image
	for n, pkg := range byName {
		images = append(images, Image{Name: n, Package: pkg})
	}
	slices.SortFunc(images, func(a, b Image) int { return strings.Compare(a.Name, b.Name) })
	return images, nil
}

// buildIndexes compiles every image for every architecture, as many at once as there are CPUs
// (a link is mostly one thread), and returns one image index per image, its manifests in
// opts.Arches order.
func buildIndexes(ctx context.Context, opts Options, images []Image, caCerts []byte, work string) ([]v1.ImageIndex, error) {
	built := make([][]v1.Image, len(images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, img := range images {
		built[i] = make([]v1.Image, len(opts.Arches))
		for j, arch := range opts.Arches {
			g.Go(func() error {
				dir := filepath.Join(work, img.Name+"-"+arch)
				if err := os.Mkdir(dir, 0o755); err != nil {
					return fmt.Errorf("release: %w", err)
				}
				image, err := ociimage.BuildGoOCI(gctx, ociimage.GoImage{
					Package: img.Package,
					Dir:     opts.RepoRoot,
					Arch:    arch,
					LDFlags: "-X " + versionVariable + "=" + opts.Version,
				}, caCerts, dir)
				if err != nil {
					return err
				}
				built[i][j] = image
				fmt.Fprintf(opts.Log, "built %s for linux/%s\n", img.Name, arch)
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	indexes := make([]v1.ImageIndex, len(images))
	for i := range images {
		adds := make([]mutate.IndexAddendum, len(opts.Arches))
		for j, arch := range opts.Arches {
			adds[j] = mutate.IndexAddendum{
				Add:        built[i][j],
				Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
			}
		}
		indexes[i] = mutate.AppendManifests(empty.Index, adds...)
	}
	return indexes, nil
}

// replaceFile writes data to path by rename, so that a reader never sees half of it.
func replaceFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone by rename when all went well
	_, err = tmp.Write(data)
	if err = errors.Join(err, tmp.Close()); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
