package compare

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	_ "image/jpeg" // registers JPEG for DecodeConfig
	_ "image/png"  // registers PNG for DecodeConfig
	"strings"
)

// ImageSize reads the pixel dimensions of a base64 PNG or JPEG, as nbformat stores images,
// from its header without decoding the pixels.
func ImageSize(b64 string) (width, height int, err error) {
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil {
		return 0, 0, fmt.Errorf("image is not base64: %w", err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return 0, 0, fmt.Errorf("image header: %w", err)
	}
	return cfg.Width, cfg.Height, nil
}

// comparedByShape reports whether mime is an image type the normalized strategy compares by
// type and dimensions rather than by bytes (renderers differ in bytes across versions).
func comparedByShape(mime string) bool {
	return mime == "image/png" || mime == "image/jpeg"
}

// imageShape is the comparable form of an image under the normalized strategy: its type and
// pixel dimensions, or its bytes when its header cannot be read.
func imageShape(mime, b64 string) string {
	w, h, err := ImageSize(b64)
	if err != nil {
		return b64
	}
	return fmt.Sprintf("%s %dx%d", mime, w, h)
}
