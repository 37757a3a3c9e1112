package ociimage

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the timestamp of every entry of a ko-style layer and of every image config: the
// default of ko's SOURCE_DATE_EPOCH, so that equal inputs give equal digests.
var epoch = time.Unix(0, 0).UTC()

// entry is one file or directory of a generated layer.
type entry struct {
	name     string // relative to the image root, no leading slash
	dir      bool
	mode     int64
	uid, gid int
	body     []byte
}

// writeEntries adds entries to tw in order, all stamped with epoch and without user names, so
// that the bytes depend on nothing but the entries.
func writeEntries(tw *tar.Writer, entries []entry) error {
	for _, e := range entries {
		h := &tar.Header{
			Name:     e.name,
			Typeflag: tar.TypeReg,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			Size:     int64(len(e.body)),
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar header %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return fmt.Errorf("tar body %s: %w", e.name, err)
		}
	}
	return nil
}

// gzipLayer writes the tar that fill produces, gzip-compressed at level, to path and returns
// it as a layer read back from that file. Go's gzip writer stamps no time or name, so the
// compressed bytes, hence the layer digest, depend only on the tar.
func gzipLayer(path string, level int, fill func(tw *tar.Writer) error) (v1.Layer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create layer %s: %w", path, err)
	}
	zw, err := gzip.NewWriterLevel(f, level)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("gzip layer %s: %w", path, err)
	}
	tw := tar.NewWriter(zw)
	err = fill(tw)
	err = errors.Join(err, tw.Close(), zw.Close(), f.Close())
	if err != nil {
		return nil, fmt.Errorf("write layer %s: %w", path, err)
	}
	layer, err := tarball.LayerFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read layer %s: %w", path, err)
	}
	return layer, nil
}
