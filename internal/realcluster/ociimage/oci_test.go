package ociimage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestBuildGoOCIIsAReleaseImage: another architecture, OCI media types, linker flags reach the
// binary, and the digest depends on the inputs only.
func TestBuildGoOCIIsAReleaseImage(t *testing.T) {
	ctx := context.Background()
	mod := t.TempDir()
	writeModule(t, mod, "hello")
	// A package-level string the -X below sets.
	if err := os.WriteFile(filepath.Join(mod, "cmd", "hello", "version.go"), []byte("package main\n\nvar stamp = \"unset\"\n\nfunc init() { println(stamp) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := GoImage{Package: "example.test/hello/cmd/hello", Dir: mod, Arch: "arm64", LDFlags: "-X main.stamp=stamped-v9.8.7"}
	ca := []byte("-----BEGIN CERTIFICATE-----\nnot a real one\n-----END CERTIFICATE-----\n")
	build := func(ca []byte) string {
		t.Helper()
		image, err := BuildGoOCI(ctx, img, ca, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || cfg.Architecture != "arm64" {
			t.Errorf("platform %s/%s, want linux/arm64", cfg.OS, cfg.Architecture)
		}
		m, err := image.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
			t.Errorf("manifest %s, config %s: want OCI media types", m.MediaType, m.Config.MediaType)
		}
		for _, l := range m.Layers {
			if l.MediaType != types.OCILayer {
				t.Errorf("layer %s has media type %s, want %s", l.Digest, l.MediaType, types.OCILayer)
			}
		}
		files := imageFiles(t, image, "ko-app/hello", caCertsPath[1:])
		if !bytes.Contains(files["ko-app/hello"].body, []byte("stamped-v9.8.7")) {
			t.Error("/ko-app/hello does not hold the string -X stamped")
		}
		if !bytes.Equal(files[caCertsPath[1:]].body, ca) {
			t.Errorf("%s is not the CA bundle given", caCertsPath)
		}
		d, err := image.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	first := build(ca)
	if again := build(ca); again != first {
		t.Errorf("same inputs, digests %s and %s", first, again)
	}
	if other := build(append([]byte(nil), strings.Replace(string(ca), "real", "REAL", 1)...)); other == first {
		t.Error("another CA bundle, same digest")
	}
	if _, err := BuildGoOCI(ctx, img, nil, t.TempDir()); err == nil || !strings.Contains(err.Error(), "CA certificates") {
		t.Errorf("no CA bundle: error %v, want one naming the CA certificates", err)
	}
}
