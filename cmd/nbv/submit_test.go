package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/jobstore"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
)

// TestSubmit creates the job from a sample manifest on a real API server and follows it; the
// test plays the functions by writing the job's terminal phase.
func TestSubmit(t *testing.T) {
	if err := controlplane.CheckBinaries("", false); err != nil {
		if os.Getenv("NBV_SKIP_INTEGRATION") == "1" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	root, err := controlplane.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{RepoRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	if err := cp.EnsureNamespace(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	store, err := jobstore.New(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	sample := filepath.Join(root, "config", "samples", "basic.yaml")

	for _, tc := range []struct {
		phase string
		code  int
	}{{v1alpha1.PhaseSucceeded, 0}, {v1alpha1.PhaseFailed, 1}} {
		t.Run(tc.phase, func(t *testing.T) {
			finish := make(chan error, 1)
			go func() { finish <- finishJob(ctx, store, "ci", "basic", tc.phase) }()
			err := submit(ctx, []string{"-f", sample, "--kubeconfig", cp.KubeconfigPath(), "-n", "ci", "--timeout", "1m"})
			if ferr := <-finish; ferr != nil {
				t.Fatal(ferr)
			}
			code := 0
			var ee *ExitError
			if errors.As(err, &ee) {
				code = ee.Code
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("submit exit code %d, want %d", code, tc.code)
			}
			// The sample has a fixed name: the next case creates it again.
			deleteJob(t, ctx, cp, "ci", "basic")
		})
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	manifest, _ := os.ReadFile(sample)
	if err := os.WriteFile(bad, []byte(strings.Replace(string(manifest), "timeout: 10m", "timout: 10m", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	err = submit(ctx, []string{"-f", bad, "--kubeconfig", cp.KubeconfigPath(), "-n", "ci"})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 2 || !strings.Contains(err.Error(), "timout") {
		t.Errorf("misspelled field: err %v, want exit 2 naming \"timout\"", err)
	}
	if _, err := store.Get(ctx, "ci", "basic"); !errors.Is(err, jobstore.ErrJobNotFound) {
		t.Errorf("a refused manifest reached the cluster: %v", err)
	}
}

// finishJob waits for the job to exist and writes phase, as the functions would.
func finishJob(ctx context.Context, store *jobstore.Store, ns, name, phase string) error {
	for {
		job, err := store.Get(ctx, ns, name)
		if err == nil {
			st := job.Status
			st.Phase, st.Message = phase, "set by the test"
			now := metav1.Now()
			st.StartTime, st.CompletionTime = &now, &now
			_, err = store.PatchStatus(ctx, job, st)
			return err
		}
		if !errors.Is(err, jobstore.ErrJobNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func deleteJob(t *testing.T, ctx context.Context, cp *controlplane.ControlPlane, ns, name string) {
	t.Helper()
	client, err := dynamic.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Resource(v1alpha1.GroupVersionResource).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}
