//go:build linux

package hostkubelet

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
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
