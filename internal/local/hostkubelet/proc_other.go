//go:build !linux

package hostkubelet

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// platformSupported refuses to run: without Pdeathsig and /proc, processes could outlive Run.
func platformSupported() error {
	return errors.New("hostkubelet: running pods on the host needs Linux (Pdeathsig, /proc)")
}

func leash(*exec.Cmd) {}

func signalGroup(int, syscall.Signal) error { return nil }

func exitCode(ps *os.ProcessState) int32 { return int32(ps.ExitCode()) }

func sweep(func(string) bool) int { return 0 }

func canHide() bool { return false }

func hide(*exec.Cmd, []string) (func() error, error) {
	return nil, errors.New("hiding volumes needs Linux")
}

func hideUnavailable() error { return errors.New("hiding volumes needs Linux") }

func onHidingThread(f func() bool) { f() }
