package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupHierarchies are the cgroup v1 controllers this machine mounts.
var cgroupHierarchies = []string{"pids", "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "systemd"}

// Clean removes what a run left behind in dir, even one that was killed: its processes
// (containerd, its shims, kubelet, kube-proxy, CoreDNS), every container in the pods' cgroup,
// the mounts under dir, orphaned pod network namespaces, the node's network, and dir itself.
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
		killed := killByCmdline(dir) + killCgroup()
		if killed == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	if err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	removeOrphanPodNetns(ctx)
	removeCgroupRoot()
	return errors.Join(errs...)
}

// killByCmdline SIGKILLs every process whose command line mentions dir.
func killByCmdline(dir string) int {
	n := 0
	self := os.Getpid()
	for _, pid := range pids() {
		if pid == self {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmdline), dir+"/") {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// killCgroup SIGKILLs every process in the pods' cgroup tree.
func killCgroup() int {
	n := 0
	root := filepath.Join("/sys/fs/cgroup/pids", cgroupRoot)
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		data, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && syscall.Kill(pid, syscall.SIGKILL) == nil {
				n++
			}
		}
		return nil
	})
	return n
}

func makeCgroupRoot() error {
	for _, h := range cgroupHierarchies {
		base := filepath.Join("/sys/fs/cgroup", h)
		if _, err := os.Stat(base); err != nil {
			continue
		}
		if err := os.MkdirAll(filepath.Join(base, cgroupRoot), 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s in %s: %w", cgroupRoot, h, err)
		}
	}
	return nil
}

// removeCgroupRoot removes the pods' (now empty) cgroups, deepest first.
func removeCgroupRoot() {
	for _, h := range cgroupHierarchies {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join("/sys/fs/cgroup", h, cgroupRoot), func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		slices.Reverse(dirs)
		for _, d := range dirs {
			_ = syscall.Rmdir(d)
		}
	}
}

// unmountUnder detaches every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(unescapeMount(fields[4]), dir+"/") {
			points = append(points, unescapeMount(fields[4]))
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
