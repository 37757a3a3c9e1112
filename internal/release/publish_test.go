package release

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPushWritesEachIndexUnderItsNameAndVersion pushes to an in-memory registry on loopback:
// what KO_DOCKER_REPO gets is <repo>/<name>:<version>, the same index digest as built.
func TestPushWritesEachIndexUnderItsNameAndVersion(t *testing.T) {
	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	repo := strings.TrimPrefix(reg.URL, "http://") + "/nbv"

	var images []Image
	var indexes []v1.ImageIndex
	for _, n := range []string{"job-created", "nbv-runner"} {
		idx, err := random.Index(64, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, Image{Name: n, Digest: d})
		indexes = append(indexes, idx)
	}
	opts, err := Options{RepoRoot: ".", OutDir: t.TempDir(), Version: "v1.2.3", Repo: repo, Push: true}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if err := push(context.Background(), opts, images, indexes); err != nil {
		t.Fatal(err)
	}
	for _, img := range images {
		tag, err := name.NewTag(repo + "/" + img.Name + ":v1.2.3")
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Head(tag)
		if err != nil {
			t.Fatalf("%s was not pushed: %v", tag, err)
		}
		if desc.Digest != img.Digest {
			t.Errorf("%s has digest %s, want the built %s", tag, desc.Digest, img.Digest)
		}
	}
}

func TestOptionsRefuseWhatCannotBeAnImageReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no version", Options{RepoRoot: ".", OutDir: "o"}, `version ""`},
		{"version with a slash", Options{RepoRoot: ".", OutDir: "o", Version: "v1/2"}, `version "v1/2"`},
		{"repository in upper case", Options{RepoRoot: ".", OutDir: "o", Version: "v1", Repo: "Registry.example.com/NBV"}, `repository "Registry.example.com/NBV"`},
		{"no output directory", Options{RepoRoot: ".", Version: "v1"}, "output directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.opts.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
	opts, err := Options{RepoRoot: ".", OutDir: "o", Version: "v0.1.0-3-gabcdef0-dirty", Repo: "registry.example.com/nbv/"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Repo != "registry.example.com/nbv" || opts.CACerts != DefaultCACerts || strings.Join(opts.Arches, ",") != "amd64,arm64" {
		t.Errorf("defaults: repo %q, CA bundle %q, arches %q", opts.Repo, opts.CACerts, opts.Arches)
	}
}
