package controlplane

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlops-dev/nbv/internal/local/childproc"
)

// startProcess runs bin with args as a child (package childproc: own process group,
// parent-death signal), its output going to dir/<name>.log.
func startProcess(name, bin string, args []string, dir string) (*childproc.Process, error) {
	return childproc.Start(childproc.Spec{Name: name, Bin: bin, Args: args, Dir: dir, LogPath: filepath.Join(dir, name+".log")})
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
