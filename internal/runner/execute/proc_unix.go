//go:build unix

package execute

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the driver in its own process group so cancelling also kills the
// kernel it started, instead of leaving it orphaned.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
