package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// process is one child binary (etcd, kube-apiserver, kube-controller-manager).
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{} // closed once the child has been reaped
	waitErr error         // valid after done is closed
}

// startProcess runs bin with args, its output going to dir/<name>.log.
//
// The child gets its own process group (so Stop can kill it and anything it forked with one
// signal) and a parent-death signal of SIGKILL (so it cannot outlive this process, even when a
// test binary panics or is killed on timeout and no deferred Stop ever runs). Pdeathsig fires
// when the forking OS thread exits; Go only retires threads whose goroutine exits while locked
// with runtime.LockOSThread, so Start must not be called from such a goroutine.
func startProcess(name, bin string, args []string, dir string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the child is gone, with its exit error and the tail of its log.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, fmt.Errorf("%s exited early (%v); last log lines:\n%s", p.name, p.waitErr, p.logTail(20))
	default:
		return false, nil
	}
}

// stop asks the process group to terminate, and kills it when grace runs out. The data dir is
// thrown away afterwards, so a clean shutdown is a courtesy, not a requirement.
func (p *process) stop(grace time.Duration) error {
	pgid := p.cmd.Process.Pid // Setpgid made the child its group's leader
	select {
	case <-p.done:
		// Reap stragglers the child may have forked into its group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling %s: %w", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	// Always SIGKILL the group: a child that exited on SIGTERM may have left children behind.
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, pgid)
	}
}

func (p *process) logTail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePorts reserves n distinct loopback ports. They are released before the children bind
// them, so another process could race for one; the window is milliseconds and a failed bind
// surfaces as a clear "exited early" error.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserving a loopback port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// lookBinary finds name in binDir.
func lookBinary(binDir, name string) (string, error) {
	path := filepath.Join(binDir, name)
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s not found in %s; run `make controlplane` (test/controlplane/build.sh) to build it",
			ErrBinariesMissing, name, binDir)
	}
	return path, nil
}

// CheckBinaries reports whether etcd and kube-apiserver (and kube-controller-manager when
// controllerManager is set) are present in binDir ("" means DefaultBinDir). The error wraps
// ErrBinariesMissing and says how to build them.
func CheckBinaries(binDir string, controllerManager bool) error {
	if binDir == "" {
		binDir = DefaultBinDir()
	}
	names := []string{"etcd", "kube-apiserver"}
	if controllerManager {
		names = append(names, "kube-controller-manager")
	}
	var missing []string
	for _, n := range names {
		if _, err := lookBinary(binDir, n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not found in %s; run `make controlplane` (test/controlplane/build.sh) to build them",
			ErrBinariesMissing, strings.Join(missing, ", "), binDir)
	}
	return nil
}
