package release

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// TestReleaseIsCompleteOfflineAndReproducible builds the whole release twice, with no registry
// and nothing pulled, and loads it as an installer would: every image index opens from its OCI
// layout with an amd64 and an arm64 image whose blobs all verify, each binary carries the
// release version, every image release.yaml and helm-values.yaml name is one of the layouts,
// by digest, no ko:// is left, and the second build (to another repository prefix) gives the
// same digests.
//
// Two releases take 3-8 minutes on 2 cores (ten cross-compiled links each), too long for every
// `make test`: it runs with NBV_RELEASE_TEST=1, which `make release-test` sets.
func TestReleaseIsCompleteOfflineAndReproducible(t *testing.T) {
	if os.Getenv("NBV_RELEASE_TEST") != "1" {
		t.Skip("builds the release twice (3-8 min): set NBV_RELEASE_TEST=1 or run make release-test")
	}
	kubectl, err := findKubectl("")
	if err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	const version = "v0.0.0-releasetest"
	build := func(repo string) (string, []Image) {
		t.Helper()
		out := t.TempDir()
		start := time.Now()
		images, err := Build(ctx, Options{RepoRoot: "../..", OutDir: out, Version: version, Repo: repo, Kubectl: kubectl})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("release of %d images built in %s", len(images), time.Since(start).Round(time.Second))
		return out, images
	}
	out, images := build("")
	checked := time.Now()

	wantImages := []string{"build-status-changed", "job-created", "nbv-runner", "pod-completed", "sweep"}
	var names []string
	for _, img := range images {
		names = append(names, img.Name)
		checkLayout(t, filepath.Join(out, LayoutDir, img.Name), img, version)
	}
	for _, want := range wantImages {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("release images %q lack %s", names, want)
		}
	}
	checkReferences(t, out, images, DefaultRepo)
	t.Logf("layouts and references checked in %s", time.Since(checked).Round(time.Second))

	const otherRepo = "registry.example.com/platform/nbv"
	again, rebuilt := build(otherRepo)
	for i := range images {
		if images[i].Digest != rebuilt[i].Digest {
			t.Errorf("image %s: digest %s, then %s from the same sources", images[i].Name, images[i].Digest, rebuilt[i].Digest)
		}
	}
	first, err := os.ReadFile(filepath.Join(out, ReleaseFile))
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(filepath.Join(again, ReleaseFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.ReplaceAll(first, []byte(DefaultRepo+"/"), []byte(otherRepo+"/")), second) {
		t.Errorf("release.yaml of the second build differs from the first in more than the repository prefix")
	}
}

// checkLayout opens the OCI layout at dir as crane, skopeo and oras would, and checks that it
// holds img's index alone, tagged version, with a linux image per release architecture whose
// blobs all verify and whose binary carries version.
func checkLayout(t *testing.T, dir string, img Image, version string) {
	t.Helper()
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != img.Digest || m.Manifests[0].Annotations[refNameAnnotation] != version {
		t.Fatalf("%s/index.json holds %+v, want only the index %s tagged %s", dir, m.Manifests, img.Digest, version)
	}
	index, err := top.ImageIndex(img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Platform.String())
		image, err := index.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.OS + "/" + cfg.Architecture; got != d.Platform.String() {
			t.Errorf("image %s: the index says %s, its config %s", img.Name, d.Platform, got)
		}
		checkBlobs(t, dir, image)
		binary := fileInLastLayer(t, image, "ko-app/"+img.Name)
		if !bytes.Contains(binary, []byte(version)) {
			t.Errorf("image %s for %s: /ko-app/%s does not carry the version %s", img.Name, d.Platform, img.Name, version)
		}
	}
	if strings.Join(platforms, " ") != "linux/amd64 linux/arm64" {
		t.Errorf("image %s is built for %q, want linux/amd64 linux/arm64", img.Name, platforms)
	}
}

// checkBlobs reads every layer of image from the layout's blobs at dir and checks its size and
// digest, as a registry does when the layout is copied into it. (validate.Image would also
// inflate every layer, which under the race detector takes minutes for these binaries.)
func checkBlobs(t *testing.T, dir string, image v1.Image) {
	t.Helper()
	m, err := image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		f, err := os.Open(filepath.Join(dir, "blobs", l.Digest.Algorithm, l.Digest.Hex))
		if err != nil {
			t.Fatalf("blob %s: %v", l.Digest, err)
		}
		got, size, err := v1.SHA256(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != l.Digest || size != l.Size {
			t.Errorf("blob %s holds %d bytes with digest %s, want %d", l.Digest, size, got, l.Size)
		}
	}
}

// fileInLastLayer returns the body of name in image's last layer, the one holding the binary.
func fileInLastLayer(t *testing.T, image v1.Image, name string) []byte {
	t.Helper()
	layers, err := image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("no %s in the last layer", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			body, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return body
		}
	}
}

// checkReferences: release.yaml names images only as <repo>/<name>@<digest> of a built image,
// names every built image, and keeps no ko:// reference; helm-values.yaml maps each name to
// the same reference.
func checkReferences(t *testing.T, out string, images []Image, repo string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, ReleaseFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("ko://")) {
		t.Error("release.yaml still holds a ko:// reference")
	}
	docs, err := yamldocs.Parse(ReleaseFile, data)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	for _, img := range images {
		refs[img.Ref] = false
	}
	anyRef := regexp.MustCompile(`^` + regexp.QuoteMeta(repo) + `/`)
	for _, d := range docs {
		walkStrings(d.Object.Object, func(s string) {
			if !anyRef.MatchString(s) {
				return
			}
			if _, ok := refs[s]; !ok {
				t.Errorf("%s %s names %s, which is not a built image by digest", d.Object.GetKind(), d.Object.GetName(), s)
			}
			refs[s] = true
		})
	}
	for ref, seen := range refs {
		if !seen {
			t.Errorf("release.yaml never names %s", ref)
		}
	}

	var values struct {
		Images map[string]string `json:"images"`
	}
	valuesData, err := os.ReadFile(filepath.Join(out, HelmValuesFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(valuesData, &values); err != nil {
		t.Fatalf("helm-values.yaml: %v", err)
	}
	if len(values.Images) != len(images) {
		t.Errorf("helm-values.yaml names %d images, want %d: %v", len(values.Images), len(images), values.Images)
	}
	for _, img := range images {
		if values.Images[img.Name] != img.Ref {
			t.Errorf("helm-values.yaml images.%s = %q, want %s", img.Name, values.Images[img.Name], img.Ref)
		}
	}
}

func walkStrings(v any, fn func(string)) {
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			walkStrings(e, fn)
		}
	case []any:
		for _, e := range t {
			walkStrings(e, fn)
		}
	case string:
		fn(t)
	}
}
