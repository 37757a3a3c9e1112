package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RemoteOption configures a push (authentication, transport).
type RemoteOption = remote.Option

// refNameAnnotation tags an entry of an OCI layout's index.json; `skopeo copy
// oci:<dir>:<tag>` and `oras cp --from-oci-layout <dir>:<tag>` find an image by it.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// push writes every index to <Repo>/<name>:<Version>.
func push(ctx context.Context, opts Options, images []Image, indexes []v1.ImageIndex) error {
	remoteOpts := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts.Remote...)
	for i, img := range images {
		tag, err := name.NewTag(opts.Repo+"/"+img.Name+":"+opts.Version, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("release: image %s: %w", img.Name, err)
		}
		if err := remote.WriteIndex(tag, indexes[i], remoteOpts...); err != nil {
			return fmt.Errorf("release: push %s: %w", tag, err)
		}
		fmt.Fprintf(opts.Log, "pushed %s (%s)\n", tag, img.Digest)
	}
	return nil
}

// writeLayouts replaces OutDir/oci with one OCI image layout per image, OutDir/oci/<name>,
// whose index.json holds that image's index alone, tagged Version. One image per layout is
// what `crane push <dir> <ref>` takes without flags. The new layouts are written beside the
// old ones and swapped in, so a failed build leaves the last release whole.
func writeLayouts(opts Options, images []Image, indexes []v1.ImageIndex) error {
	final := filepath.Join(opts.OutDir, LayoutDir)
	fresh, err := os.MkdirTemp(opts.OutDir, ".oci-")
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	defer os.RemoveAll(fresh) // gone by rename when all went well
	for i, img := range images {
		p, err := layout.Write(filepath.Join(fresh, img.Name), empty.Index)
		if err != nil {
			return fmt.Errorf("release: layout for %s: %w", img.Name, err)
		}
		if err := p.AppendIndex(indexes[i], layout.WithAnnotations(map[string]string{refNameAnnotation: opts.Version})); err != nil {
			return fmt.Errorf("release: layout for %s: %w", img.Name, err)
		}
	}
	if err := os.Chmod(fresh, 0o755); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	old := final + ".old"
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if err := os.Rename(final, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("release: %w", err)
	}
	if err := os.Rename(fresh, final); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	fmt.Fprintf(opts.Log, "wrote %d OCI image layouts under %s\n", len(images), final)
	return nil
}
