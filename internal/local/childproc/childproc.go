// Package childproc owns the child processes of the local stack (etcd, kube-apiserver,
// kube-controller-manager, and every function instance): each runs in its own process group
// with a parent-death signal, its output appended to a log file, so that Stop ends it and
// anything it forked, and nothing survives the process that started it.
package childproc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Spec describes one child.
type Spec struct {
	// Name names the child in errors.
	Name string
	// Bin and Args are what is run.
	Bin  string
	Args []string
	// Dir is the working directory.
	Dir string
	// LogPath receives stdout and stderr (appended).
	LogPath string
	// Output, when set, also receives stdout and stderr.
	Output io.Writer
	// Env is the whole environment when non-nil; nil inherits this process's environment.
	Env []string
	// ExtraFiles are inherited as file descriptors 3, 4, ... (socket activation).
	ExtraFiles []*os.File
}

// Process is a running child.
type Process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{} // closed once the child has been reaped
	waitErr error         // valid after done is closed
}

// Start runs spec's binary.
//
// The child gets its own process group (so Stop can kill it and anything it forked with one
// signal) and a parent-death signal of SIGKILL (so it cannot outlive this process, even when a
// test binary panics or is killed on timeout and no deferred Stop ever runs). Pdeathsig fires
// when the forking OS thread exits; Go only retires threads whose goroutine exits while locked
// with runtime.LockOSThread, so Start must not be called from such a goroutine.
func Start(spec Spec) (*Process, error) {
	logFile, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", spec.Name, err)
	}
	var out io.Writer = logFile
	if spec.Output != nil {
		out = io.MultiWriter(logFile, spec.Output)
	}
	cmd := exec.Command(spec.Bin, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = spec.Env
	cmd.ExtraFiles = spec.ExtraFiles
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", spec.Name, spec.Bin, err)
	}
	p := &Process{name: spec.Name, cmd: cmd, logPath: spec.LogPath, started: time.Now(), done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process ID, also its process group's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Started is when the child was started.
func (p *Process) Started() time.Time { return p.started }

// Done is closed once the child has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// WaitErr is the child's exit status (nil for exit 0); valid after Done is closed.
func (p *Process) WaitErr() error { return p.waitErr }

// Exited reports whether the child is gone, with its exit status and the tail of its log.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, fmt.Errorf("%s exited early (%v); last log lines:\n%s", p.name, p.waitErr, p.LogTail(20))
	default:
		return false, nil
	}
}

// Stop asks the process group to terminate (SIGTERM), and kills it when grace runs out.
func (p *Process) Stop(grace time.Duration) error {
	pgid := p.Pid() // Setpgid made the child its group's leader
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

// LogTail is the last n lines of the child's log.
func (p *Process) LogTail(n int) string {
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
