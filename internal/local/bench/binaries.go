package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// buildFunctions builds every functions/* binary into dir as the release images hold them
// (internal/realcluster/ociimage: static, stripped: CGO_ENABLED=0 -trimpath -ldflags='-s -w'),
// so the run starts the binaries whose sizes it reports. A cgo build would start ~5 ms slower
// here: the dynamic loader and libc's initialisation before Go's.
func buildFunctions(ctx context.Context, repoRoot, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", dir+string(os.PathSeparator), "./functions/...")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bench: building the functions: %w\n%s", err, out)
	}
	return nil
}

// binarySizes returns the size in bytes of each functions/* binary in dir, by name.
func binarySizes(repoRoot, dir string) (map[string]int64, error) {
	entries, err := os.ReadDir(filepath.Join(repoRoot, "functions"))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	sizes := map[string]int64{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("bench: function %s was not built: %w", e.Name(), err)
		}
		sizes[e.Name()] = st.Size()
	}
	return sizes, nil
}
