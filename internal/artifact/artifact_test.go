package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryWithLogin is an in-memory registry on loopback that wants user/password on every
// request.
func registryWithLogin(t *testing.T, user, password string) string {
	t.Helper()
	reg := registry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func writeRun(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// keychainFor writes a docker config.json the way a dockerconfigjson Secret mounted as
// config.json does, and returns the default keychain reading it through DOCKER_CONFIG.
func keychainFor(t *testing.T, host, user, password string) authn.Keychain {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), DockerConfig(host, user, password), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	return authn.DefaultKeychain
}

func TestPushPullRoundTripIsAnOCIArtifact(t *testing.T) {
	host := registryWithLogin(t, "nbv", "s3cret")
	kc := keychainFor(t, host, "nbv", "s3cret")
	files := map[string]string{
		"executed.ipynb": `{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`,
		"report.html":    "<html>passed</html>",
		"report.json":    `{"result": "passed"}`,
		"junit.xml":      "<testsuites/>",
		"other.txt":      "not part of the record",
	}
	ctx := context.Background()
	p, err := Push(ctx, writeRun(t, files), host+"/nbv-results/team-a:demo-abc-validation", Options{Keychain: kc,
		Annotations: map[string]string{"dev.mlops.nbv.job": "team-a/demo"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Reference, host+"/nbv-results/team-a@sha256:") {
		t.Fatalf("reference %q is not by digest", p.Reference)
	}
	if got := strings.Join(p.Files, ","); got != "executed.ipynb,report.html,report.json,junit.xml" {
		t.Fatalf("files %s", got)
	}

	// The manifest as any OCI 1.1 client sees it.
	ref, _ := name.ParseReference(p.Reference)
	desc, err := remote.Get(ref, remote.WithAuthFromKeychain(kc))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.ArtifactType != ArtifactType {
		t.Errorf("mediaType %q artifactType %q", m.MediaType, m.ArtifactType)
	}
	if m.Config.MediaType != MediaTypeEmpty || m.Config.Size != 2 || m.Config.Digest.String() != "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" {
		t.Errorf("config %+v is not the empty descriptor", m.Config)
	}
	if m.Annotations["dev.mlops.nbv.job"] != "team-a/demo" {
		t.Errorf("annotations %v", m.Annotations)
	}
	want := map[string]string{"executed.ipynb": MediaTypeNotebook, "report.html": MediaTypeHTML, "report.json": MediaTypeReport, "junit.xml": MediaTypeJUnit}
	for _, l := range m.Layers {
		if want[l.Annotations[AnnotationTitle]] != string(l.MediaType) {
			t.Errorf("layer %s: media type %s", l.Annotations[AnnotationTitle], l.MediaType)
		}
	}

	out := t.TempDir()
	paths, err := Pull(ctx, p.Reference, out, Options{Keychain: kc})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Fatalf("pulled %v", paths)
	}
	for n, c := range files {
		b, err := os.ReadFile(filepath.Join(out, n))
		if n == "other.txt" {
			if err == nil {
				t.Errorf("%s was pushed", n)
			}
			continue
		}
		if err != nil || !bytes.Equal(b, []byte(c)) {
			t.Errorf("%s: %q, %v", n, b, err)
		}
	}
}

func TestPushNeedsTheCredential(t *testing.T) {
	host := registryWithLogin(t, "nbv", "s3cret")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), DockerConfig(host, "nbv", "s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := writeRun(t, map[string]string{"report.html": "x"})
	if _, err := Push(context.Background(), run, host+"/r:t", Options{Keychain: DockerConfigKeychain(dir)}); err != nil {
		t.Fatalf("push with the login of a mounted config.json: %v", err)
	}
	kc := keychainFor(t, host, "nbv", "wrong")
	_, err := Push(context.Background(), writeRun(t, map[string]string{"report.html": "x"}), host+"/r:t", Options{Keychain: kc})
	if err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
		t.Fatalf("push with a wrong password: %v", err)
	}
}

func TestPushOfAnEmptyRunSaysSo(t *testing.T) {
	_, err := Push(context.Background(), t.TempDir(), "127.0.0.1:1/r:t", Options{})
	if err == nil || !strings.Contains(err.Error(), "no run output to push") {
		t.Fatalf("%v", err)
	}
}

func TestPullRefusesOtherArtifactsAndPathTitles(t *testing.T) {
	host := registryWithLogin(t, "u", "p")
	kc := keychainFor(t, host, "u", "p")
	ctx := context.Background()
	p, err := Push(ctx, writeRun(t, map[string]string{"report.html": "x"}), host+"/r:t", Options{Keychain: kc})
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the manifest with a title that climbs out of the directory.
	ref, _ := name.ParseReference(p.Reference)
	desc, err := remote.Get(ref, remote.WithAuthFromKeychain(kc))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	_ = json.Unmarshal(desc.Manifest, &m)
	m.Layers[0].Annotations[AnnotationTitle] = "../evil.html"
	b, _ := json.Marshal(m)
	evil, _ := name.ParseReference(host + "/r:evil")
	if err := remote.Put(evil, rawManifest{b, "application/vnd.oci.image.manifest.v1+json"}, remote.WithAuthFromKeychain(kc)); err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(ctx, host+"/r:evil", t.TempDir(), Options{Keychain: kc}); err == nil || !strings.Contains(err.Error(), "not a plain file name") {
		t.Errorf("path title: %v", err)
	}
	m.ArtifactType = "application/vnd.example.other"
	m.Layers[0].Annotations[AnnotationTitle] = "report.html"
	b, _ = json.Marshal(m)
	other, _ := name.ParseReference(host + "/r:other")
	if err := remote.Put(other, rawManifest{b, "application/vnd.oci.image.manifest.v1+json"}, remote.WithAuthFromKeychain(kc)); err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(ctx, host+"/r:other", t.TempDir(), Options{Keychain: kc}); err == nil || !strings.Contains(err.Error(), "not a notebook run's record") {
		t.Errorf("other artifactType: %v", err)
	}
}

// TestPushRefusesWhatIsNotARegularFile: the notebook writes the output directory; a symlink
// there to the pusher's credential must not be followed (the notebook would read the
// credential back from its own report), nor a FIFO block the push. Nothing is pushed.
func TestPushRefusesWhatIsNotARegularFile(t *testing.T) {
	host := registryWithLogin(t, "nbv", "s3cret")
	kc := keychainFor(t, host, "nbv", "s3cret")
	secret := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(secret, DockerConfig(host, "nbv", "s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, plant := range map[string]func(p string) error{
		"symlink to the credential": func(p string) error { return os.Symlink(secret, p) },
		"FIFO":                      func(p string) error { return syscall.Mkfifo(p, 0o644) },
	} {
		run := writeRun(t, map[string]string{"executed.ipynb": "{}"})
		if err := plant(filepath.Join(run, "report.html")); err != nil {
			t.Fatal(err)
		}
		_, err := Push(context.Background(), run, host+"/r:"+strings.ReplaceAll(name, " ", "-"), Options{Keychain: kc})
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s as report.html: %v, want a refusal", name, err)
		}
	}
}
