package integration

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/hostkubelet"
	"github.com/mlops-dev/nbv/internal/statustext"
)

// TestFailingCellTracebackInStatus: a notebook fails deep in a call chain, with a credential's
// value and colour codes in its traceback. The whole stack runs it (job-created, the host
// kubelet with the real nbv-runner and Python, pod-completed): status.results[] of the failing
// cell carries the end of its traceback (the frame that raised and the error line), bounded,
// without escape sequences and with the credential masked.
func TestFailingCellTracebackInStatus(t *testing.T) {
	f := newFixture(t, 1)
	const token = "sk-live-5e4d3c2b1a09f8e7"
	if _, err := f.kube.CoreV1().Secrets(f.ns).Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "api-creds"},
		StringData: map[string]string{"API_TOKEN": token}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	repoURL := f.startHostKubelet(map[string][]string{"deep.ipynb": {
		"import os\ntoken = os.environ['API_TOKEN']",
		"def level(n):\n    if n == 0:\n        raise PermissionError('\\x1b[31mtoken ' + token + ' was refused\\x1b[0m')\n    return level(n - 1)\n\nlevel(60)",
		"print('never runs')",
	}})
	f.createJob("deep", func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.Notebook = v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: repoURL, Ref: "master"}, Path: "deep.ipynb"}
		j.Spec.PodConfig.Credentials = []string{"api-creds"}
	})
	job := f.waitJob("deep", "Failed", phaseIs(v1alpha1.PhaseFailed))
	var failing *v1alpha1.CellResult
	for i := range job.Status.Results {
		if job.Status.Results[i].Status == v1alpha1.CellStatusFailure {
			failing = &job.Status.Results[i]
		}
	}
	if failing == nil || failing.CellIndex != 1 {
		t.Fatalf("results %+v (message %q): want cell 1 failed", job.Status.Results, job.Status.Message)
	}
	out := failing.Output
	if !strings.HasSuffix(out, "PermissionError: token *** was refused") || !strings.Contains(out, "return level(n - 1)") ||
		!strings.Contains(out, "raise PermissionError") {
		t.Errorf("output %q: want the traceback's end (recursion frames, the raise, the error line)", out)
	}
	if !strings.HasPrefix(out, "…\n") || strings.Contains(out, "Traceback (most recent call last)") {
		t.Errorf("output %q: want the traceback's start left out, marked by a line \"…\"", out)
	}
	if len(out) > statustext.MaxCellText || strings.ContainsAny(out, "\x1b\x9b") || strings.Contains(out, token) {
		t.Errorf("output is %d bytes (limit %d), escapes %v, token %v", len(out), statustext.MaxCellText,
			strings.ContainsAny(out, "\x1b\x9b"), strings.Contains(out, token))
	}
	for _, r := range job.Status.Results {
		if r.CellIndex != 1 && r.Output != "" {
			t.Errorf("cell %d has output %q; only the failing cell carries its traceback", r.CellIndex, r.Output)
		}
	}
}

// startHostKubelet builds nbv-runner, commits notebooks to a new git repository and runs a
// host kubelet for the fixture's validation pods until the test ends. It returns the
// repository's URL.
func (f *fixture) startHostKubelet(notebooks map[string][]string) string {
	f.t.Helper()
	repoURL, _ := f.startHostKubeletIn(notebooks)
	return repoURL
}

// startHostKubeletIn is startHostKubelet that also returns the kubelet's work directory, where
// each pod's volumes are <work>/<namespace>/<pod>/<volume>.
func (f *fixture) startHostKubeletIn(notebooks map[string][]string) (repoURL, work string) {
	t := f.t
	t.Helper()
	tmp := t.TempDir()
	runnerBin := hostRunner(t, f.ctx, tmp)
	repoURL = "file://" + hkGitRepo(t, filepath.Join(tmp, "repo"), notebooks)
	work = filepath.Join(tmp, "work")
	k := hostkubelet.New(f.cp.RESTConfig(), hostkubelet.Options{RunnerBinary: runnerBin, WorkDir: work,
		NodeName: "host", Namespace: f.ns, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	ctx, stop := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return repoURL, work
}
