package childproc

import (
	"path/filepath"
	"testing"
	"time"
)

func TestStatCPU(t *testing.T) {
	got, err := statCPU([]byte("4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 1041 0 0 0 37 5 0 0 20 0 7 0 1234 0 0\n"))
	if err != nil || got != 420*time.Millisecond {
		t.Errorf("statCPU = %v, %v; want 420ms (37 + 5 ticks)", got, err)
	}
	for _, bad := range []string{"", "1 (x S 1", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 ab 5 0"} {
		if _, err := statCPU([]byte(bad)); err == nil {
			t.Errorf("statCPU(%q) accepted", bad)
		}
	}
}

// TestCPUTime: a child that spins has CPU time while it runs and after it exited, and the
// second is not less than the first.
func TestCPUTime(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(Spec{Name: "spin", Bin: "/bin/sh", Args: []string{"-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 30"},
		Dir: dir, LogPath: filepath.Join(dir, "spin.log")})
	if err != nil {
		t.Fatal(err)
	}
	var running time.Duration
	for deadline := time.Now().Add(20 * time.Second); running == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if running, err = p.CPUTime(); err != nil {
			t.Fatal(err)
		}
	}
	if running == 0 {
		t.Fatal("no CPU time recorded for a spinning child")
	}
	if err := p.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
	exited, err := p.CPUTime()
	if err != nil || exited < running {
		t.Errorf("after exit: %v, %v; want at least %v", exited, err, running)
	}
}
