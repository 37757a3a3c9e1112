package ociimage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPauseImageIsLaidOutAsKoDoes(t *testing.T) {
	ctx := context.Background()
	tarPath, err := Pause(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img := readArchive(t, tarPath, PauseRef)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cfg.OS, cfg.Architecture)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/ko-app/pause"}) || cfg.Config.Cmd != nil {
		t.Errorf("entrypoint %q cmd %q, want [/ko-app/pause] and none", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	if cfg.Config.User != "65532" {
		t.Errorf("user %q, want 65532", cfg.Config.User)
	}
	wantEnv := []string{
		"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/ko-app",
		"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		"KO_DATA_PATH=/var/run/ko",
	}
	if !slices.Equal(cfg.Config.Env, wantEnv) {
		t.Errorf("env %q, want %q", cfg.Config.Env, wantEnv)
	}

	files := imageFiles(t, img, "ko-app/pause", caCertsPath[1:], "etc/passwd")
	wantBinary := filepath.Join(t.TempDir(), "pause")
	if err := goBuild(ctx, GoImage{Package: pausePackage}, wantBinary); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(wantBinary)
	if err != nil {
		t.Fatal(err)
	}
	app := files["ko-app/pause"]
	if app.Header == nil || !bytes.Equal(app.body, want) {
		t.Fatalf("/ko-app/pause is not the go build output (%d bytes in the image, %d built)", len(app.body), len(want))
	}
	if app.Mode != 0o555 {
		t.Errorf("/ko-app/pause mode %o, want 555", app.Mode)
	}
	hostCA, err := os.ReadFile(caCertsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files[caCertsPath[1:]].body, hostCA) {
		t.Errorf("%s in the image is not the host's", caCertsPath)
	}
	if !strings.Contains(string(files["etc/passwd"].body), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot 65532:\n%s", files["etc/passwd"].body)
	}
	if _, ok := files["var/run/ko"]; !ok {
		t.Error("image has no $KO_DATA_PATH directory")
	}
	for name, f := range files {
		if f.ModTime.Unix() != 0 {
			t.Errorf("%s dated %v, want the epoch", name, f.ModTime)
		}
	}
}

func TestGoImageDigestIsStableAcrossBuilds(t *testing.T) {
	ctx := context.Background()
	first, err := Pause(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	second, err := Pause(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d1, err := readArchive(t, first, PauseRef).Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := readArchive(t, second, PauseRef).Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("two builds of the same source: %s and %s", d1, d2)
	}
}

// writeModule writes a one-command module whose main prints greeting.
func writeModule(t *testing.T, dir, greeting string) {
	t.Helper()
	main := filepath.Join(dir, "cmd", "hello", "main.go")
	if err := os.MkdirAll(filepath.Dir(main), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.test/hello\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"" + greeting + "\") }\n"
	if err := os.WriteFile(main, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGoImageTarIsRewrittenOnlyWhenItsInputsChange(t *testing.T) {
	ctx := context.Background()
	mod, out := t.TempDir(), t.TempDir()
	writeModule(t, mod, "hello")
	img := GoImage{Package: "example.test/hello/cmd/hello", Dir: mod}
	build := func() (string, os.FileInfo) {
		t.Helper()
		tarPath, err := BuildGo(ctx, img, out)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(tarPath)
		if err != nil {
			t.Fatal(err)
		}
		return tarPath, st
	}

	tarPath, built := build()
	if want := filepath.Join(out, "local.test_hello-cmd-hello_e2e.tar"); tarPath != want {
		t.Errorf("tar at %s, want %s (ref RefFor(package))", tarPath, want)
	}
	if cfg, err := readArchive(t, tarPath, RefFor(img.Package)).ConfigFile(); err != nil {
		t.Fatal(err)
	} else if !slices.Equal(cfg.Config.Entrypoint, []string{"/ko-app/hello"}) {
		t.Errorf("entrypoint %q, want /ko-app/hello", cfg.Config.Entrypoint)
	}

	if _, again := build(); !os.SameFile(built, again) {
		t.Error("unchanged inputs: the tar was written again")
	}

	if err := os.WriteFile(inputsFile(tarPath), []byte("stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, afterStale := build()
	if os.SameFile(built, afterStale) {
		t.Error("a tar whose inputs key does not match was kept")
	}

	digest := func() string {
		d, err := readArchive(t, tarPath, RefFor(img.Package)).Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	before := digest()
	writeModule(t, mod, "hello again")
	if _, changed := build(); os.SameFile(afterStale, changed) {
		t.Error("changed source: the tar was kept")
	}
	if after := digest(); after == before {
		t.Errorf("changed source, same digest %s", after)
	}
}

func TestBuildGoRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		img  GoImage
		want string
	}{
		{"no package", GoImage{}, "no package"},
		{"ref with upper case", GoImage{Package: pausePackage, Ref: "local.test/Pause:1"}, `"local.test/Pause:1"`},
		{"ref without tag", GoImage{Package: pausePackage, Ref: "local.test/pause"}, `"local.test/pause"`},
		{"missing package", GoImage{Package: "github.com/mlops-dev/nbv/no/such/cmd"}, "go build github.com/mlops-dev/nbv/no/such/cmd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			_, err := BuildGo(ctx, tc.img, out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
			if left, _ := filepath.Glob(filepath.Join(out, "*")); len(left) != 0 {
				t.Errorf("left behind: %q", left)
			}
		})
	}
}

// TestGoImageInItsOwnDirectoryAsRoot: a builder such as kaniko gets its binary in the
// directory it asks for, that directory on PATH and as the entrypoint, and runs as root;
// nothing is left at /ko-app.
func TestGoImageInItsOwnDirectoryAsRoot(t *testing.T) {
	ctx := context.Background()
	mod, out := t.TempDir(), t.TempDir()
	writeModule(t, mod, "hello")
	const ref = "local.test/hello-builder:e2e"
	tarPath, err := BuildGo(ctx, GoImage{Package: "example.test/hello/cmd/hello", Dir: mod, Ref: ref, AppDir: "/kaniko", Root: true}, out)
	if err != nil {
		t.Fatal(err)
	}
	img := readArchive(t, tarPath, ref)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/kaniko/hello"}) {
		t.Errorf("entrypoint %q, want [/kaniko/hello]", cfg.Config.Entrypoint)
	}
	if cfg.Config.User != "0" {
		t.Errorf("user %q, want 0", cfg.Config.User)
	}
	if !slices.Contains(cfg.Config.Env, "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/kaniko") {
		t.Errorf("env %q: PATH does not end with /kaniko", cfg.Config.Env)
	}
	files := imageFiles(t, img)
	if f, ok := files["kaniko/hello"]; !ok || f.Mode != 0o555 {
		t.Errorf("/kaniko/hello missing or not mode 555: %+v", f.Header)
	}
	for name := range files {
		if strings.HasPrefix(name, "ko-app") {
			t.Errorf("%s in an image whose binary lives in /kaniko", name)
		}
	}
}
