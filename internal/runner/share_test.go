package runner

import (
	"os"
	"path/filepath"
	"testing"
)

// On a real node the workspace emptyDir belongs to root while prepare runs as another user:
// shareWorkspace must share what it cloned and leave the directory it does not own alone
// (chmod on it is EPERM). Run as root, the test plays that by giving the top directory away.
func TestShareWorkspaceSkipsWhatItDoesNotOwn(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to chown the workspace to another user")
	}
	ws := t.TempDir()
	clone := filepath.Join(ws, "notebook")
	if err := os.MkdirAll(clone, 0o700); err != nil {
		t.Fatal(err)
	}
	nb := filepath.Join(clone, "a.ipynb")
	if err := os.WriteFile(nb, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ws, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(ws, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if err := shareWorkspace(ws); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{ws: 0o750, clone: 0o777, nb: 0o666} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
}
