package ociimage

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// PushPlainHTTP copies the image ref names in the archive tarPath (as BuildGo and Notebook
// write them) to dst, a tag in a registry served over plain HTTP without authentication
// (the e2e cluster's own), and returns the digest it is pulled by.
func PushPlainHTTP(ctx context.Context, tarPath, ref, dst string) (v1.Hash, error) {
	src, err := name.NewTag(ref)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	to, err := name.NewTag(dst, name.Insecure)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push %s to %s: %w", ref, dst, err)
	}
	img, err := tarball.ImageFromPath(tarPath, &src)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: read %s: %w", ref, tarPath, err)
	}
	if err := remote.Write(to, img, remote.WithContext(ctx)); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s to %s: %w", ref, dst, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: digest: %w", ref, err)
	}
	return digest, nil
}
