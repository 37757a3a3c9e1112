package ociimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// historyAuthor marks the layers this package wrote.
const historyAuthor = "github.com/mlops-dev/nbv/internal/realcluster/ociimage"

// namedLayer is a layer and the comment its history entry gets.
type namedLayer struct {
	layer   v1.Layer
	comment string
}

// imageMeta is what an image records besides its layers and config.
type imageMeta struct {
	// createdBy names what made the image in its history. It must not depend on where the
	// image is published, or the digest would.
	createdBy string
	// arch is the GOARCH of the platform, linux/<arch>.
	arch string
	// oci selects OCI media types (manifest, config, layers), which registries, OCI layouts and
	// image indexes expect; without it the image has Docker's, as the e2e tars always had.
	oci bool
}

// assemble stacks layers on an empty image and gives it cfg and meta's platform, dated epoch.
func assemble(layers []namedLayer, cfg v1.Config, meta imageMeta) (v1.Image, error) {
	var layerType types.MediaType // empty keeps each layer's own (Docker's)
	if meta.oci {
		layerType = types.OCILayer
	}
	adds := make([]mutate.Addendum, 0, len(layers))
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{
			Layer:     l.layer,
			MediaType: layerType,
			History: v1.History{
				Author:    historyAuthor,
				Created:   v1.Time{Time: epoch},
				CreatedBy: meta.createdBy,
				Comment:   l.comment,
			},
		})
	}
	img, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		return nil, fmt.Errorf("image %s: stack layers: %w", meta.createdBy, err)
	}
	if meta.oci {
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	file, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", meta.createdBy, err)
	}
	file = file.DeepCopy()
	file.OS, file.Architecture = "linux", meta.arch
	file.Created = v1.Time{Time: epoch}
	file.Config = cfg
	img, err = mutate.ConfigFile(img, file)
	if err != nil {
		return nil, fmt.Errorf("image %s: set config: %w", meta.createdBy, err)
	}
	return img, nil
}

// inputsFile is the sidecar of an image tar: the key of the inputs it was written from.
func inputsFile(tarPath string) string { return tarPath + ".inputs" }

// inputsKey digests everything an image is made from, each part length-prefixed so that no two
// different lists of parts give the same key.
func inputsKey(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// layoutKey is the part of an inputs key that describes generated layers and the config: every
// entry's metadata and the digest of its body.
func layoutKey(cfg v1.Config, layers ...[]entry) ([]byte, error) {
	type entryKey struct {
		Name     string
		Dir      bool
		Mode     int64
		UID, GID int
		Body     [sha256.Size]byte
	}
	keys := make([][]entryKey, len(layers))
	for i, entries := range layers {
		for _, e := range entries {
			keys[i] = append(keys[i], entryKey{e.name, e.dir, e.mode, e.uid, e.gid, sha256.Sum256(e.body)})
		}
	}
	b, err := json.Marshal(struct {
		Config v1.Config
		Layers [][]entryKey
	}{cfg, keys})
	if err != nil {
		return nil, fmt.Errorf("image layout key: %w", err)
	}
	return b, nil
}

// parseRef checks ref before anything is built for it: a registry, a repository and a tag.
func parseRef(ref string) (name.Tag, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image ref %q: %w", ref, err)
	}
	return tag, nil
}

// archiveCurrent reports whether tarPath exists and was written from inputs with this key.
func archiveCurrent(tarPath, key string) bool {
	if _, err := os.Stat(tarPath); err != nil {
		return false
	}
	got, err := os.ReadFile(inputsFile(tarPath))
	return err == nil && bytes.Equal(bytes.TrimSpace(got), []byte(key))
}

// writeArchive writes img as a docker-archive tar tagged ref at tarPath, then records key beside
// it. The sidecar goes first and comes back last, so an interrupted write is never taken for
// current, and the tar appears by rename, so a reader never sees half of one.
func writeArchive(img v1.Image, tag name.Tag, tarPath, key string) error {
	ref := tag.String()
	if err := os.Remove(inputsFile(tarPath)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("image %s: drop stale inputs key: %w", ref, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(tarPath), filepath.Base(tarPath)+".*.tmp")
	if err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	defer os.Remove(tmp.Name()) // gone by rename when all went well
	err = tarball.Write(tag, img, tmp)
	if err = errors.Join(err, tmp.Close()); err != nil {
		return fmt.Errorf("image %s: write %s: %w", ref, tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	if err := os.Rename(tmp.Name(), tarPath); err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	if err := os.WriteFile(inputsFile(tarPath), []byte(key+"\n"), 0o644); err != nil {
		return fmt.Errorf("image %s: record inputs key: %w", ref, err)
	}
	return nil
}
