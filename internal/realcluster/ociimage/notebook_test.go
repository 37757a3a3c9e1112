package ociimage

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/cmdoutput"
)

// notebookCacheDir keeps the debootstrapped rootfs across runs: making it takes minutes.
func notebookCacheDir(t *testing.T) string {
	if dir := os.Getenv("NBV_NOTEBOOK_CACHE"); dir != "" {
		return dir
	}
	base, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("cache dir: %v", err)
	}
	return filepath.Join(base, "nbv", "notebook")
}

func TestNotebookImage(t *testing.T) {
	if os.Getenv("NBV_E2E") == "" {
		t.Skip("debootstraps a Debian system (minutes, network to the Debian mirror): set NBV_E2E=1")
	}
	if os.Geteuid() != 0 {
		t.Skip("debootstrap and chroot need root")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skip("no debootstrap")
	}
	ctx := context.Background()
	cacheDir := notebookCacheDir(t)
	start := time.Now()
	tarPath, err := Notebook(ctx, cacheDir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("notebook image in %v", time.Since(start))
	if st, err := os.Stat(tarPath); err == nil {
		t.Logf("image tar %s: %.1f MB", tarPath, float64(st.Size())/1e6)
	}

	img := readArchive(t, tarPath, NotebookRef)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "1000" || cfg.Config.WorkingDir != "/home/jovyan" {
		t.Errorf("user %q workdir %q, want 1000 and /home/jovyan", cfg.Config.User, cfg.Config.WorkingDir)
	}
	if !slices.Contains(cfg.Config.Env, "HOME=/home/jovyan") {
		t.Errorf("env %q lacks HOME=/home/jovyan", cfg.Config.Env)
	}
	files := imageFiles(t, img, "etc/passwd")
	for _, want := range []string{"usr/bin/python3", "usr/bin/git", "etc/ssl/certs/ca-certificates.crt", "home/jovyan"} {
		if _, ok := files[want]; !ok {
			t.Errorf("image lacks %s", want)
		}
	}
	if home, ok := files["home/jovyan"]; ok && home.Uid != 1000 {
		t.Errorf("/home/jovyan owned by %d, want 1000", home.Uid)
	}
	if passwd := string(files["etc/passwd"].body); files["etc/passwd"].Header == nil {
		t.Error("image has no /etc/passwd")
	} else if !strings.Contains(passwd, "jovyan:x:1000:1000:") {
		t.Errorf("/etc/passwd has no jovyan 1000:\n%s", passwd)
	}
	for name := range files {
		if strings.HasPrefix(name, "proc/") && name != "proc/" || strings.HasPrefix(name, "var/lib/apt/lists/deb") ||
			strings.HasSuffix(name, ".deb") {
			t.Errorf("image holds %s", name)
		}
	}

	// The system's own python runs the packages nbv-runner needs.
	out, err := cmdoutput.Stdout(exec.Command("chroot", filepath.Join(cacheDir, "rootfs"), "python3", "-c",
		"import nbclient, ipykernel, nbformat; print('ok')"))
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("python3 in the rootfs: %v\n%s", err, out)
	}

	start = time.Now()
	if _, err := Notebook(ctx, cacheDir, filepath.Dir(tarPath)); err != nil {
		t.Fatal(err)
	}
	t.Logf("notebook image, cached: %v", time.Since(start))
}
