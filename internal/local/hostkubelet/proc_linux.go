//go:build linux

package hostkubelet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func platformSupported() error { return nil }

// leash makes cmd lead its own process group, so the whole group can be signalled, and
// SIGKILLs it if the thread that started it dies: the caller starts and waits for cmd from a
// goroutine locked to its OS thread, since Pdeathsig follows the thread, not the process.
func leash(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup signals the process group led by pid. A group already gone is not an error.
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// exitCode is the container exit code of a finished process: its status, or 128+signal
// when a signal ended it, as container runtimes report.
func exitCode(ps *os.ProcessState) int32 {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ps.ExitCode())
}

// sweep SIGKILLs every process whose environment holds MarkerEnv with a value accepted by
// match, until none is left (or a few seconds passed), and returns how many it signalled.
// It catches what left the process group: a Jupyter kernel starts its own session.
func sweep(match func(value string) bool) int {
	killed := 0
	deadline := time.Now().Add(3 * time.Second)
	for {
		pids := marked(match)
		if len(pids) == 0 || time.Now().After(deadline) {
			return killed
		}
		for _, pid := range pids {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
		// A killed process keeps its environment readable until it has exited.
		time.Sleep(20 * time.Millisecond)
	}
}

// marked lists the live processes carrying MarkerEnv with a matching value. Processes of
// other users are unreadable and skipped: they cannot be ours.
func marked(match func(string) bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	prefix := []byte(MarkerEnv + "=")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, prefix); ok && match(string(v)) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

var (
	hideOnce sync.Once
	hideErr  error
)

// canHide reports whether hide works here (it mounts, so it needs root and the right to make
// namespaces), trying it once on a scratch directory.
func canHide() bool {
	hideOnce.Do(func() {
		if os.Geteuid() != 0 {
			hideErr = errors.New("not root")
			return
		}
		dir, err := os.MkdirTemp("", "nbv-hide-probe-")
		if err != nil {
			hideErr = err
			return
		}
		defer os.RemoveAll(dir)
		done := make(chan error, 1)
		onHidingThread(func() bool {
			cmd := exec.Command("/bin/sh", "-c", "! ls \"$0\"/x 2>/dev/null && ! umount \"$0\" 2>/dev/null", dir)
			cmd.SysProcAttr = &syscall.SysProcAttr{}
			if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
				done <- err
				return true
			}
			restore, err := hide(cmd, []string{dir})
			if err == nil {
				var out []byte
				if out, err = cmd.CombinedOutput(); err != nil {
					err = fmt.Errorf("a hidden directory stayed visible or could be unmounted: %v %s", err, out)
				}
			}
			if restore != nil {
				if rerr := restore(); rerr != nil {
					done <- rerr
					return false
				}
			}
			done <- err
			return true
		})
		hideErr = <-done
	})
	return hideErr == nil
}

// hide keeps cmd away from dirs, the volumes of its Pod that its container does not mount, as
// a container's own mount namespace would. The caller's OS thread (locked, and kept locked
// until restore has run) moves to a private mount namespace in which each dir is covered by an
// empty, read-only tmpfs; cmd starts in a new user namespace (identity-mapped: files keep their
// owners) and a mount namespace copied from it: the covers become locked mounts that cmd cannot
// unmount, and it holds no capability over the processes outside, so their /proc/<pid>/root,
// environ and fds are closed to it. restore, called once cmd has started, moves the thread
// back to the process's mount namespace; if it fails the thread must never run another
// goroutine, nor end (Pdeathsig of children other goroutines forked from it would fire).
func hide(cmd *exec.Cmd, dirs []string) (restore func() error, err error) {
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/mnt", syscall.Gettid()))
	if err != nil {
		return nil, fmt.Errorf("the thread's mount namespace: %w", err)
	}
	restore = func() error {
		defer orig.Close()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("back to the process's mount namespace: %w", err)
		}
		return nil
	}
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		orig.Close()
		return nil, fmt.Errorf("private mount namespace: %w", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return restore, fmt.Errorf("make mounts private: %w", err)
	}
	for _, d := range dirs {
		if err := syscall.Mount("nbv-hidden", d, "tmpfs", syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "size=4k,mode=0"); err != nil {
			return restore, fmt.Errorf("cover %s: %w", d, err)
		}
	}
	all := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
	cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS
	cmd.SysProcAttr.UidMappings, cmd.SysProcAttr.GidMappings = all, all
	cmd.SysProcAttr.GidMappingsEnableSetgroups = true
	return restore, nil
}

// hideUnavailable says why canHide is false (nil when it is true).
func hideUnavailable() error {
	canHide()
	return hideErr
}

// hidingJobs hands work to an idle hiding thread (unbuffered: a send succeeds only when one
// waits).
var hidingJobs = make(chan func() bool)

// onHidingThread runs f on an OS thread kept for hide, and returns when f has. hide gives such
// a thread a file-system context of its own (unshare(CLONE_NEWNS) implies CLONE_FS): it would
// no longer follow the process's working directory, so it never runs other goroutines again.
// Nor does it end (children forked from it carry Pdeathsig). The threads are reused, so there
// are as many as containers were ever started at once with something to hide. f returns false
// when it left its thread unusable (still in a private mount namespace): that thread parks.
func onHidingThread(f func() bool) {
	done := make(chan struct{})
	job := func() bool {
		defer close(done)
		return f()
	}
	select {
	case hidingJobs <- job:
	default:
		go hidingThread(job)
	}
	<-done
}

func hidingThread(first func() bool) {
	runtime.LockOSThread() // never unlocked, see onHidingThread
	ok := first()
	for ok {
		ok = (<-hidingJobs)()
	}
	select {}
}
