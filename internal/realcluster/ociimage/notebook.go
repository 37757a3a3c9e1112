package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/mlops-dev/nbv/internal/realcluster/mounts"
)

// The notebook image's Debian system, and its user as Jupyter's images have it.
const (
	notebookSuite   = "bookworm"
	notebookVariant = "minbase"
	notebookUser    = "jovyan"
	notebookUID     = 1000
	notebookHome    = "/home/" + notebookUser
)

// notebookPackages are installed on top of minbase: what nbv-runner execute drives a notebook
// with (python3 + nbclient + the python3 kernel), and git. debootstrap resolves no virtual
// packages, so the last two name the providers of python3-zmq's python3-cffi-backend-api-*
// and gdb's (via python3-debugpy) libboost-regex1.74.0-icu72.
var notebookPackages = []string{
	"python3", "python3-nbclient", "python3-ipykernel", "python3-nbformat", "git", "ca-certificates",
	"python3-cffi-backend", "libboost-regex1.74.0",
}

// debsDir keeps downloaded packages beside the rootfs, so that a rebuild fetches only what changed.
const debsDir = "debs"

// aptCaches are what apt leaves in a fresh system that an image has no use for.
var aptCaches = []string{"var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"}

// Notebook builds the notebook image NotebookRef into outDir and returns the tar's path. The
// Debian system is made with debootstrap in cacheDir/rootfs (as root) from the host's apt
// mirror, and reused as long as the recipe it was made from (suite, variant, packages, user)
// is unchanged; the tar is rewritten only when that system was rebuilt.
func Notebook(ctx context.Context, cacheDir, outDir string) (string, error) {
	tag, err := parseRef(NotebookRef)
	if err != nil {
		return "", err
	}
	cacheDir, err = filepath.Abs(cacheDir) // debootstrap wants absolute paths
	if err != nil {
		return "", fmt.Errorf("notebook image: %w", err)
	}
	rootfs := filepath.Join(cacheDir, "rootfs")
	marker, err := ensureRootfs(ctx, rootfs, filepath.Join(cacheDir, debsDir), filepath.Join(cacheDir, "rootfs.done"))
	if err != nil {
		return "", err
	}
	cfg := notebookConfig()
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("notebook image: config: %w", err)
	}
	key := inputsKey([]byte(tag.String()), cfgJSON, marker)
	tarPath := filepath.Join(outDir, archiveFile(NotebookRef))
	if archiveCurrent(tarPath, key) {
		return tarPath, nil
	}

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("notebook image: %w", err)
	}
	work, err := os.MkdirTemp(outDir, ".build-")
	if err != nil {
		return "", fmt.Errorf("notebook image: %w", err)
	}
	defer os.RemoveAll(work)
	// BestSpeed: the layer is a few hundred MB and never leaves this machine.
	layer, err := gzipLayer(filepath.Join(work, "rootfs.tar.gz"), gzip.BestSpeed,
		func(tw *tar.Writer) error { return tarRootfs(tw, rootfs) })
	if err != nil {
		return "", fmt.Errorf("notebook image: %w", err)
	}
	image, err := assemble([]namedLayer{{layer, "debootstrap " + recipe()}}, cfg,
		imageMeta{createdBy: "ociimage " + NotebookRef, arch: "amd64"})
	if err != nil {
		return "", err
	}
	if err := writeArchive(image, tag, tarPath, key); err != nil {
		return "", err
	}
	return tarPath, nil
}

// notebookConfig runs as jovyan (1000) in its home, like Jupyter's images.
func notebookConfig() v1.Config {
	return v1.Config{
		Cmd: []string{"python3"},
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"HOME=" + notebookHome,
			"LANG=C.UTF-8",
			"SHELL=/bin/bash",
			"NB_USER=" + notebookUser,
			fmt.Sprintf("NB_UID=%d", notebookUID),
		},
		User:       fmt.Sprint(notebookUID),
		WorkingDir: notebookHome,
	}
}

// recipe is what the rootfs is made from; a marker holding another recipe means a rebuild.
func recipe() string {
	return fmt.Sprintf("suite=%s variant=%s include=%s user=%s:%d",
		notebookSuite, notebookVariant, strings.Join(notebookPackages, ","), notebookUser, notebookUID)
}

// ensureRootfs returns the marker of a complete rootfs made from the current recipe, making the
// rootfs first when the marker is missing or holds another recipe. The marker also records when
// the rootfs was made, so a rebuilt rootfs gives a new image key.
func ensureRootfs(ctx context.Context, rootfs, debs, markerPath string) ([]byte, error) {
	if marker, err := os.ReadFile(markerPath); err == nil {
		if first, _, _ := bytes.Cut(marker, []byte("\n")); string(first) == recipe() {
			return marker, nil
		}
	}
	if err := os.Remove(markerPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("notebook rootfs: drop marker: %w", err)
	}
	if err := makeRootfs(ctx, rootfs, debs); err != nil {
		return nil, err
	}
	marker := []byte(recipe() + "\nmade " + time.Now().UTC().Format(time.RFC3339Nano) + "\n")
	if err := os.WriteFile(markerPath, marker, 0o644); err != nil {
		return nil, fmt.Errorf("notebook rootfs: write marker: %w", err)
	}
	return marker, nil
}

// makeRootfs debootstraps a fresh rootfs, adds the notebook user and drops apt's caches.
func makeRootfs(ctx context.Context, rootfs, debs string) error {
	if err := mounts.UnmountUnder(rootfs); err != nil {
		return fmt.Errorf("notebook rootfs: clear old %s: %w", rootfs, err)
	}
	if err := os.RemoveAll(rootfs); err != nil {
		return fmt.Errorf("notebook rootfs: clear old %s: %w", rootfs, err)
	}
	for _, dir := range []string{rootfs, debs} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("notebook rootfs: %w", err)
		}
	}
	args := []string{"--variant=" + notebookVariant, "--include=" + strings.Join(notebookPackages, ","),
		"--cache-dir=" + debs, notebookSuite, rootfs}
	if mirror := hostMirror(notebookSuite); mirror != "" {
		args = append(args, mirror)
	}
	err := run(ctx, "debootstrap", args...)
	// debootstrap unmounts what it mounted unless it was interrupted; make sure.
	if uerr := mounts.UnmountUnder(rootfs); uerr != nil {
		err = errors.Join(err, uerr)
	}
	if err != nil {
		return fmt.Errorf("notebook rootfs: %w", err)
	}
	if err := run(ctx, "chroot", rootfs, "useradd", "--uid", fmt.Sprint(notebookUID), "--user-group",
		"--create-home", "--home-dir", notebookHome, "--shell", "/bin/bash", notebookUser); err != nil {
		return fmt.Errorf("notebook rootfs: add user %s: %w", notebookUser, err)
	}
	for _, pattern := range aptCaches {
		matches, _ := filepath.Glob(filepath.Join(rootfs, pattern))
		for _, m := range matches {
			if err := os.Remove(m); err != nil {
				return fmt.Errorf("notebook rootfs: drop apt cache: %w", err)
			}
		}
	}
	return nil
}

// run runs a command, its output kept for the error only.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		const tail = 4000
		if len(out) > tail {
			out = out[len(out)-tail:]
		}
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
