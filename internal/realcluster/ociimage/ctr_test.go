package ociimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/cmdoutput"
)

// startContainerd runs a containerd of its own (root, state and socket in a temp dir, no CRI
// plugin) for the test's duration and returns its address and the ctr binary.
func startContainerd(t *testing.T) (ctrBin, address string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	containerd, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("no containerd")
	}
	if ctrBin, err = exec.LookPath("ctr"); err != nil {
		t.Skip("no ctr")
	}
	dir := t.TempDir()
	address = filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  address = %[5]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[6]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), address, address+".ttrpc",
		filepath.Join(dir, "debug.sock"), filepath.Join(dir, "opt"))
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(containerd, "--config", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
	})

	deadline := time.Now().Add(15 * time.Second)
	for exec.Command(ctrBin, "-a", address, "version").Run() != nil {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("containerd exited: %v\n%s", err, log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("containerd not serving on %s after 15s\n%s", address, log)
		}
	}
	return ctrBin, address
}

func TestImportIntoContainerdAndRunPause(t *testing.T) {
	ctrBin, address := startContainerd(t)
	ctx := context.Background()
	tarPath, err := Pause(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := Import(ctx, ctrBin, address, tarPath); err != nil {
		t.Fatal(err)
	}
	ctr := func(args ...string) *exec.Cmd {
		return exec.Command(ctrBin, append([]string{"-a", address, "-n", criNamespace}, args...)...)
	}
	out, err := cmdoutput.Stdout(ctr("images", "check"))
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, PauseRef+" ") {
			line = l
		}
	}
	if !strings.Contains(line, "complete") || !strings.HasSuffix(strings.TrimSpace(line), "true") {
		t.Fatalf("%s not imported complete and unpacked:\n%s", PauseRef, out)
	}

	// The image runs as a container: the pause program waits, then exits 0 on SIGTERM.
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("no runc to run the imported image")
	}
	id := fmt.Sprintf("ociimage-test-%d", os.Getpid())
	run := ctr("run", "--rm", PauseRef, id)
	runOut := &strings.Builder{}
	run.Stdout, run.Stderr = runOut, runOut
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		tasks, _ := ctr("tasks", "ls").Output()
		if strings.Contains(string(tasks), id) && strings.Contains(string(tasks), "RUNNING") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not running after 15s: %s", id, runOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("pause exited before SIGTERM: %v\n%s", err, runOut)
	case <-time.After(300 * time.Millisecond):
	}
	if out, err := ctr("tasks", "kill", "--signal", "SIGTERM", id).CombinedOutput(); err != nil {
		t.Fatalf("kill: %v\n%s", err, out)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pause after SIGTERM: %v\n%s", err, runOut)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("pause still running 15s after SIGTERM")
	}
}

func TestImportNamesCtrsComplaint(t *testing.T) {
	ctrBin, address := startContainerd(t)
	notImage := filepath.Join(t.TempDir(), "not-an-image.tar")
	if err := os.WriteFile(notImage, []byte("plain text"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Import(context.Background(), ctrBin, address, notImage)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || !strings.Contains(err.Error(), notImage) || !strings.Contains(err.Error(), "ctr: ") {
		t.Fatalf("error %v, want ctr's failure naming the tar and carrying ctr's stderr", err)
	}
}
