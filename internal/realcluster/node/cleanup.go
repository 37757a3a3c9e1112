package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mlops-dev/nbv/internal/realcluster/mounts"
)

// Clean removes what a run left behind in dir, even one that was killed: its processes
// (containerd, its shims, kubelet, kube-proxy, CoreDNS) and their containers, the mounts under dir, orphaned pod network namespaces, the node's network, and dir itself.
func Clean(ctx context.Context, dir string) error {
	if err := killLeftovers(ctx, dir); err != nil {
		return err
	}
	TearDownNetwork(ctx)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("node: removing %s: %w", dir, err)
	}
	return nil
}

// killLeftovers kills processes started from dir and the containers of its pods, then
// unmounts what they mounted.
func killLeftovers(ctx context.Context, dir string) error {
	var errs []error
	for range 3 { // shims respawn nothing, but a container may fork while being killed
		if killByCmdline(dir) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	if err := mounts.UnmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	removeOrphanPodNetns(ctx)
	return errors.Join(errs...)
}

// killByCmdline SIGKILLs every process whose command line mentions dir (containerd, its
// shims, kubelet, kube-proxy, CoreDNS) and all their descendants: the containers, which the
// shims parent and which outlive a killed containerd. It returns how many it signalled.
func killByCmdline(dir string) int {
	self := os.Getpid()
	children := map[int][]int{}
	var roots []int
	for _, pid := range pids() {
		if pid == self {
			continue
		}
		if ppid, ok := parentPID(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(cmdline), dir+"/") {
			roots = append(roots, pid)
		}
	}
	n := 0
	seen := map[int]bool{}
	for len(roots) > 0 {
		pid := roots[0]
		roots = roots[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		roots = append(roots, children[pid]...)
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// parentPID reads a process's parent from /proc/<pid>/stat (the field after the command
// name, which is in parentheses and may itself hold spaces or parentheses).
func parentPID(pid int) (int, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

// removeOrphanPodNetns deletes containerd's pod network namespaces (/var/run/netns/cni-*)
// that no process uses any more: the pods of a killed node never had their sandbox torn down.
func removeOrphanPodNetns(ctx context.Context) {
	entries, err := os.ReadDir("/var/run/netns")
	if err != nil {
		return
	}
	inUse := map[uint64]bool{}
	for _, pid := range pids() {
		var st syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) == nil {
			inUse[st.Ino] = true
		}
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "cni-") {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/var/run/netns", e.Name()), &st) == nil && !inUse[st.Ino] {
			_ = run(ctx, "ip", "netns", "del", e.Name())
		}
	}
}

func pids() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}
