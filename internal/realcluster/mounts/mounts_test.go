package mounts

import (
	"slices"
	"testing"
)

func TestMountsUnderListsDeepestFirst(t *testing.T) {
	info := `22 1 0:21 / / rw - ext4 /dev/vda rw
30 22 0:5 / /cache/rootfs/proc rw - proc proc rw
31 22 0:6 / /cache/rootfs/dev rw - devtmpfs udev rw
32 31 0:7 / /cache/rootfs/dev/pts rw - devpts devpts rw
33 22 0:8 / /cache/rootfs2/proc rw - proc proc rw
34 22 0:9 / /cache/root\040fs/sys rw - sysfs sysfs rw
`
	got := Under(info, "/cache/rootfs")
	want := []string{"/cache/rootfs/dev/pts", "/cache/rootfs/proc", "/cache/rootfs/dev"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := Under(info, "/cache/root fs"); !slices.Equal(got, []string{"/cache/root fs/sys"}) {
		t.Errorf("escaped space: got %q", got)
	}
}
