package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestTarRootfsKeepsLinksModesAndLeavesOutVirtualContents(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "proc/1"), 0o555))
	must(os.MkdirAll(filepath.Join(root, "dev"), 0o755))
	must(os.WriteFile(filepath.Join(root, "usr/bin/tool"), []byte("tool body"), 0o755))
	must(os.Chmod(filepath.Join(root, "usr/bin/tool"), 0o755|os.ModeSetuid))
	must(os.Link(filepath.Join(root, "usr/bin/tool"), filepath.Join(root, "usr/bin/tool-alias")))
	must(os.Symlink("/etc/outside", filepath.Join(root, "usr/bin/abs-link")))
	must(os.WriteFile(filepath.Join(root, "proc/1/status"), []byte("x"), 0o444))
	must(syscall.Mkfifo(filepath.Join(root, "dev/fifo"), 0o600))

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	must(tarRootfs(tw, root))
	must(tw.Close())

	got := map[string]*tar.Header{}
	bodies := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(err)
		body, err := io.ReadAll(tr)
		must(err)
		got[h.Name], bodies[h.Name] = h, string(body)
	}
	for _, name := range []string{"proc/1/", "proc/1/status", "dev/fifo"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s is in the layer", name)
		}
	}
	for _, name := range []string{"proc/", "dev/", "usr/bin/"} {
		if h, ok := got[name]; !ok || h.Typeflag != tar.TypeDir {
			t.Errorf("directory %s missing: %+v", name, h)
		}
	}
	if h := got["usr/bin/tool"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o7777 != 0o4755 || bodies["usr/bin/tool"] != "tool body" {
		t.Errorf("usr/bin/tool: %+v body %q, want a setuid 4755 file with its body", h, bodies["usr/bin/tool"])
	}
	if h := got["usr/bin/tool-alias"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "usr/bin/tool" {
		t.Errorf("usr/bin/tool-alias: %+v, want a hard link to usr/bin/tool", h)
	}
	if h := got["usr/bin/abs-link"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/etc/outside" {
		t.Errorf("usr/bin/abs-link: %+v, want the symlink as it is", h)
	}
	if h := got["usr/bin/tool"]; h != nil && (h.Uid != os.Geteuid() || h.Uname != "") {
		t.Errorf("owner %d %q, want %d by number only", h.Uid, h.Uname, os.Geteuid())
	}
}

func TestRootfsMadeFromTheCurrentRecipeIsReused(t *testing.T) {
	dir := t.TempDir()
	rootfs, marker := filepath.Join(dir, "rootfs"), filepath.Join(dir, "rootfs.done")
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := []byte(recipe() + "\nmade earlier\n")
	if err := os.WriteFile(marker, want, 0o644); err != nil {
		t.Fatal(err)
	}
	// A debootstrap here would fail on the missing PATH: the marker alone must decide.
	t.Setenv("PATH", "")
	got, err := ensureRootfs(context.Background(), rootfs, filepath.Join(dir, "debs"), marker)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %q, %v; want the existing marker", got, err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "etc")); err != nil {
		t.Errorf("rootfs touched: %v", err)
	}

	if err := os.WriteFile(marker, []byte("suite=bookworm include=python3\nmade earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureRootfs(context.Background(), rootfs, filepath.Join(dir, "debs"), marker); err == nil {
		t.Fatal("a marker of another recipe was taken as current")
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker of another recipe kept: %v", err)
	}
}
