package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/runner/checks"
	"github.com/mlops-dev/nbv/internal/runner/compare"
	"github.com/mlops-dev/nbv/internal/runner/gitclone"
	"github.com/mlops-dev/nbv/internal/runner/summary"
)

// Workspace layout shared by prepare (init container) and execute (main container).
const (
	NotebookRepoDir = "notebook"
	GoldenRepoDir   = "golden"
	// BinaryName is what prepare installs into the shared directory.
	BinaryName = "nbv-runner"
)

// Source is a notebook in a git repository.
type Source struct {
	URL, Ref, Path string
	// CredentialsDir is the mounted Secret for this repository (empty: anonymous).
	CredentialsDir string
}

// PrepareOptions configure Prepare.
type PrepareOptions struct {
	// InstallDir receives a copy of the running binary; empty skips the copy.
	InstallDir string
	Workspace  string
	Notebook   Source
	Golden     *Source
	// MaxNotebookBytes refuses a larger notebook or golden notebook (zero:
	// DefaultMaxNotebookBytes).
	MaxNotebookBytes int64
}

// Prepared reports what Prepare fetched.
type Prepared struct {
	Notebook       string // path of the notebook file in the workspace
	NotebookCommit string
	Golden         string
	GoldenCommit   string
}

// Prepare installs the runner binary, clones the repositories and checks that the notebooks
// exist and are notebooks.
func Prepare(ctx context.Context, o PrepareOptions) (*Prepared, error) {
	if o.InstallDir != "" {
		if err := installSelf(o.InstallDir); err != nil {
			return nil, &Error{Reason: summary.ReasonRunnerError, Err: err}
		}
	}
	p := &Prepared{}
	var err error
	p.Notebook, p.NotebookCommit, err = fetch(ctx, o.Notebook, filepath.Join(o.Workspace, NotebookRepoDir), "notebook", o.MaxNotebookBytes)
	if err != nil {
		return nil, err
	}
	if o.Golden != nil {
		dir := filepath.Join(o.Workspace, GoldenRepoDir)
		if o.Golden.URL == o.Notebook.URL && o.Golden.Ref == o.Notebook.Ref {
			// Same repository and ref: one clone serves both.
			dir = filepath.Join(o.Workspace, NotebookRepoDir)
			p.Golden, err = checkNotebook(dir, o.Golden.Path, "golden notebook", o.MaxNotebookBytes)
			p.GoldenCommit = p.NotebookCommit
		} else {
			p.Golden, p.GoldenCommit, err = fetch(ctx, *o.Golden, dir, "golden notebook", o.MaxNotebookBytes)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := shareWorkspace(o.Workspace); err != nil {
		return nil, &Error{Reason: summary.ReasonRunnerError, Err: err}
	}
	return p, nil
}

// shareWorkspace makes the cloned trees writable by every user. The notebook container runs
// the user's image, usually as another user than prepare (jovyan, not the runner's), and
// notebooks write next to themselves; the workspace is an emptyDir private to the pod.
// Entries prepare does not own are left alone: on a real node the emptyDir itself belongs to
// root (mode 0777 already), and only its owner may change its mode.
func shareWorkspace(dir string) error {
	uid := uint32(os.Getuid())
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid != uid {
			return nil
		}
		mode := info.Mode().Perm() | 0o666
		if d.IsDir() {
			mode |= 0o777
		}
		if err := os.Chmod(path, mode); err != nil {
			return fmt.Errorf("share workspace %s: %w", path, err)
		}
		return nil
	})
}

func fetch(ctx context.Context, s Source, dir, what string, limit int64) (string, string, error) {
	if s.URL == "" || s.Ref == "" || s.Path == "" {
		return "", "", &Error{Reason: summary.ReasonRunnerError, Err: fmt.Errorf("%s: repository URL, ref and path are all required", what)}
	}
	if !filepath.IsLocal(s.Path) {
		return "", "", &Error{Reason: summary.ReasonNotebookNotFound, Err: fmt.Errorf("%s path %q must be relative to the repository root, without '..'", what, s.Path)}
	}
	commit, err := gitclone.Clone(ctx, gitclone.Options{URL: s.URL, Ref: s.Ref, Dir: dir, CredentialsDir: s.CredentialsDir})
	if err != nil {
		var ce *gitclone.Error
		if errors.As(err, &ce) {
			return "", "", &Error{Reason: ce.Reason, Err: fmt.Errorf("%s repository: %w", what, err)}
		}
		return "", "", &Error{Reason: summary.ReasonRunnerError, Err: fmt.Errorf("%s repository: %w", what, err)}
	}
	path, err := checkNotebook(dir, s.Path, what, limit)
	return path, commit, err
}

func checkNotebook(repoDir, rel, what string, limit int64) (string, error) {
	path := filepath.Join(repoDir, rel)
	st, err := os.Stat(path)
	if err != nil || st.IsDir() {
		return "", &Error{Reason: summary.ReasonNotebookNotFound, Err: fmt.Errorf("%s %s is not in the repository", what, rel)}
	}
	if _, err := readNotebook(path, what, limit); err != nil {
		return "", err
	}
	return path, nil
}

// installSelf copies the running executable to dir/nbv-runner (write then rename, so a
// reader never sees half a binary).
func installSelf(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	in, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("open own executable: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".nbv-runner-*")
	if err != nil {
		return fmt.Errorf("install runner: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("install runner: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("install runner: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install runner: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, BinaryName)); err != nil {
		return fmt.Errorf("install runner: %w", err)
	}
	return nil
}

// JobSpecEnv is the environment variable that may carry the job spec JSON.
const JobSpecEnv = "NBV_JOB_SPEC"

// LoadJobSpec reads a NotebookValidationJobSpec from the file at path, else from the JSON in
// envValue; both empty returns nil. A whole NotebookValidationJob object is accepted too.
func LoadJobSpec(path, envValue string) (*v1alpha1.NotebookValidationJobSpec, error) {
	var b []byte
	switch {
	case path != "":
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read job spec: %w", err)
		}
	case envValue != "":
		b = []byte(envValue)
		path = "$" + JobSpecEnv
	default:
		return nil, nil
	}
	var wrapped struct {
		Kind string                              `json:"kind"`
		Spec *v1alpha1.NotebookValidationJobSpec `json:"spec"`
	}
	if err := json.Unmarshal(b, &wrapped); err != nil {
		return nil, fmt.Errorf("job spec %s is not JSON: %w", path, err)
	}
	if wrapped.Kind != "" && wrapped.Spec != nil {
		return wrapped.Spec, nil
	}
	var spec v1alpha1.NotebookValidationJobSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a typo in a field name must not silently drop a setting
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("job spec %s: %w", path, err)
	}
	return &spec, nil
}

// SpecSettings are the execution settings a job spec carries.
type SpecSettings struct {
	Parameters  map[string]json.RawMessage
	CellTimeout time.Duration
	Kernel      string
	Validation  checks.Config
	Comparison  compare.Config
}

// SettingsFromSpec resolves a spec (nil allowed) into execution settings with the CRD's defaults.
func SettingsFromSpec(spec *v1alpha1.NotebookValidationJobSpec) (SpecSettings, error) {
	var s SpecSettings
	var err error
	if spec == nil {
		spec = &v1alpha1.NotebookValidationJobSpec{}
	}
	if s.Validation, err = checks.FromSpec(spec.ValidationConfig); err != nil {
		return s, err
	}
	if s.Comparison, err = compare.FromSpec(spec.ComparisonConfig); err != nil {
		return s, err
	}
	if ex := spec.Execution; ex != nil {
		s.Kernel = ex.KernelName
		if ex.CellTimeout != "" {
			if s.CellTimeout, err = time.ParseDuration(ex.CellTimeout); err != nil {
				return s, fmt.Errorf("execution.cellTimeout: %w", err)
			}
		}
		if len(ex.Parameters) > 0 {
			s.Parameters = make(map[string]json.RawMessage, len(ex.Parameters))
			for k, v := range ex.Parameters {
				s.Parameters[k] = json.RawMessage(v.Raw)
			}
		}
	}
	return s, nil
}
