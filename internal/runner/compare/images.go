package compare

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // registers JPEG for Decode and DecodeConfig
	_ "image/png"  // registers PNG for Decode and DecodeConfig
	"strings"
)

// How PNG and JPEG outputs are compared (comparisonConfig.imageComparison).
const (
	// ImagesByType: the image is there with the same MIME type, nothing more. nbval's
	// default (it leaves image/png and image/jpeg out of its comparison): another
	// matplotlib, font or dpi changes a figure's pixels and size, not what it shows.
	ImagesByType = "type"
	// ImagesBySize: also the same pixel dimensions, read from the header.
	ImagesBySize = "size"
	// ImagesByPixels: the same decoded pixels (encoders and their metadata may differ).
	ImagesByPixels = "pixels"
	// ImagesByBytes: the same encoded bytes; the default under the exact strategy.
	ImagesByBytes = "bytes"
)

func decodeBase64(b64 string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil {
		return nil, fmt.Errorf("image is not base64: %w", err)
	}
	return raw, nil
}

// ImageSize reads the pixel dimensions of a base64 PNG or JPEG, as nbformat stores images,
// from its header without decoding the pixels.
func ImageSize(b64 string) (width, height int, err error) {
	raw, err := decodeBase64(b64)
	if err != nil {
		return 0, 0, err
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return 0, 0, fmt.Errorf("image header: %w", err)
	}
	return cfg.Width, cfg.Height, nil
}

// comparedAsImage reports whether mime is an image type compared as imageComparison says
// rather than as text.
func comparedAsImage(mime string) bool {
	return mime == "image/png" || mime == "image/jpeg"
}

// imageForm is the comparable form of a base64 image under mode: its type, its type and
// pixel dimensions, a digest of its decoded pixels, or its bytes. An image whose header or
// pixels cannot be read compares by its bytes under size and pixels.
func imageForm(mode, mime, b64 string) string {
	switch mode {
	case ImagesByType:
		return mime
	case ImagesBySize:
		if w, h, err := ImageSize(b64); err == nil {
			return fmt.Sprintf("%s %dx%d", mime, w, h)
		}
	case ImagesByPixels:
		if raw, err := decodeBase64(b64); err == nil {
			if img, _, err := image.Decode(bytes.NewReader(raw)); err == nil {
				// One pixel layout whatever the encoder chose (palette, gray, RGBA).
				b := img.Bounds()
				rgba := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
				draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
				return fmt.Sprintf("%s %dx%d pixels sha256:%x", mime, b.Dx(), b.Dy(), sha256.Sum256(rgba.Pix))
			}
		}
	}
	return strings.Join(strings.Fields(b64), "")
}
