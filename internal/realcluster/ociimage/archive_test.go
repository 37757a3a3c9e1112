package ociimage

import (
	"archive/tar"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// readArchive opens the image tagged ref in a docker-archive tar, as go-containerregistry reads it.
func readArchive(t *testing.T, tarPath, ref string) v1.Image {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatalf("read %s from %s: %v", ref, tarPath, err)
	}
	return img
}

// imageFile is a file of an image's flattened filesystem.
type imageFile struct {
	*tar.Header
	body []byte
}

// imageFiles flattens img's layers; the bodies of the files named in bodies are kept.
func imageFiles(t *testing.T, img v1.Image, bodies ...string) map[string]imageFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]imageFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("read image filesystem: %v", err)
		}
		f := imageFile{Header: h}
		if slices.Contains(bodies, h.Name) {
			if f.body, err = io.ReadAll(tr); err != nil {
				t.Fatalf("read %s: %v", h.Name, err)
			}
		}
		files[h.Name] = f
	}
}
