package ociimage

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPushPlainHTTPPushesTheArchivedImage: the image read back from the registry by the
// returned digest is the archive's, layer for layer.
func TestPushPlainHTTPPushesTheArchivedImage(t *testing.T) {
	ctx := context.Background()
	tarPath, err := Pause(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	digest, err := PushPlainHTTP(ctx, tarPath, PauseRef, host+"/e2e/pause:1")
	if err != nil {
		t.Fatal(err)
	}
	want, err := readArchive(t, tarPath, PauseRef).Digest()
	if err != nil {
		t.Fatal(err)
	}
	if digest != want {
		t.Errorf("pushed digest %s, want the archive's %s", digest, want)
	}
	ref, err := name.NewDigest(host+"/e2e/pause@"+digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	layers, err := pulled.Layers()
	if err != nil || len(layers) != 3 {
		t.Errorf("pulled image has %d layers (%v), want ko's 3", len(layers), err)
	}
}

func TestPushPlainHTTPNamesTheImageTheArchiveLacks(t *testing.T) {
	ctx := context.Background()
	tarPath, err := Pause(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = PushPlainHTTP(ctx, tarPath, "local.test/absent:1", "127.0.0.1:1/x:1")
	if err == nil || !strings.Contains(err.Error(), "local.test/absent:1") {
		t.Errorf("err %v, want one naming the image not in the archive", err)
	}
}
