//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/realcluster"
)

// The notebooks every test's repository holds (fixtures of test/fixtures/notebooks).
var notebooks = map[string]string{"compute.ipynb": "compute.ipynb", "fail.ipynb": "fail.ipynb"}

// TestNotebookFromGitSucceeds: kubectl apply of a job whose notebook comes from a git
// repository; the real validation pod clones it, runs it in the notebook image and the job
// ends Succeeded with a result per cell. The time from apply to Succeeded is logged.
func TestNotebookFromGitSucceeds(t *testing.T) {
	repo := gitServer(t, notebooks)
	optedInNamespace(t, "e2e-ok")
	start := time.Now()
	if _, err := kubectl(t, jobYAML("e2e-ok", "compute", repo, "notebooks/compute.ipynb", realcluster.NotebookImage, ""), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	job := waitPhase(t, "e2e-ok", "compute", 3*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	t.Logf("kubectl apply -> %s in %s", job.Status.Phase, time.Since(start).Round(time.Millisecond))
	if job.Status.Phase != v1alpha1.PhaseSucceeded {
		t.Fatalf("phase %s: %s", job.Status.Phase, job.Status.Message)
	}
	if len(job.Status.Results) != 3 {
		t.Fatalf("results %+v, want one per cell (3)", job.Status.Results)
	}
	for _, r := range job.Status.Results {
		if r.Status != "Success" {
			t.Errorf("cell %d: %s", r.CellIndex, r.Status)
		}
	}
	// The pod ran on the real node, and its logs are there for kubectl.
	pod := job.Status.ValidationPodName
	if pod == "" {
		t.Fatal("status names no validation pod")
	}
	logs, err := kubectl(t, "", "logs", "-n", "e2e-ok", pod, "-c", "notebook")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl logs %s:\n%s", pod, logs)
	// nbv logs finds the job's validation pod itself and prints the same log.
	nbvLogs, err := runNBV(t, "logs", "compute", "-n", "e2e-ok", "--kubeconfig", cluster.ControlPlane.KubeconfigPath())
	if err != nil {
		t.Fatalf("nbv logs: %v: %s", err, nbvLogs)
	}
	if strings.TrimSpace(nbvLogs) != strings.TrimSpace(logs) {
		t.Errorf("nbv logs printed\n%s\nwant what kubectl logs printed", nbvLogs)
	}
	got, err := kube(t).CoreV1().Pods("e2e-ok").Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "node1" {
		t.Errorf("validation pod ran on %q, want node1", got.Spec.NodeName)
	}
}

// TestFailingNotebookNamesTheCell: the second cell (index 1) raises; the job ends Failed, its
// message names that cell and the error, and the cell results say which cells ran.
func TestFailingNotebookNamesTheCell(t *testing.T) {
	repo := gitServer(t, notebooks)
	optedInNamespace(t, "e2e-fail")
	if _, err := kubectl(t, jobYAML("e2e-fail", "fail", repo, "notebooks/fail.ipynb", realcluster.NotebookImage, ""), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	job := waitPhase(t, "e2e-fail", "fail", 3*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	if job.Status.Phase != v1alpha1.PhaseFailed {
		t.Fatalf("phase %s, want Failed", job.Status.Phase)
	}
	if !strings.Contains(job.Status.Message, "cell 1") || !strings.Contains(job.Status.Message, "ValueError: bad value: 7") {
		t.Errorf("message %q does not name cell 1 and its ValueError", job.Status.Message)
	}
	want := []string{"Success", "Failure", "Skipped"}
	if len(job.Status.Results) != len(want) {
		t.Fatalf("results %+v, want %v", job.Status.Results, want)
	}
	for i, r := range job.Status.Results {
		if r.CellIndex != i || r.Status != want[i] {
			t.Errorf("result %d: cell %d %s, want cell %d %s", i, r.CellIndex, r.Status, i, want[i])
		}
	}
}

// TestExternalCIBuild: a job whose image is built by an external CI waits in Building until
// `nbv ci-event` posts the signed result to build-status-changed's /ci route; then its
// validation pod runs in the reported image and the job succeeds. The "external CI" is the
// test: it pushes an image to the cluster's registry (the notebook image plus a layer holding
// the module the notebook imports) and reports it by digest.
func TestExternalCIBuild(t *testing.T) {
	repo := gitRepoServer(t, map[string][]byte{"notebooks/built.ipynb": notebookFixture(t, "imports-built-module.ipynb")})
	optedInNamespace(t, "e2e-ci")
	key := "0123456789abcdef0123456789abcdef"
	if _, err := kubectl(t, "", "create", "secret", "generic", "nbv-ci-webhook", "-n", "e2e-ci", "--from-literal=hmac-key="+key); err != nil {
		t.Fatal(err)
	}
	external := "    buildConfig:\n      enabled: true\n      strategy: external\n      timeout: 10m\n"
	if _, err := kubectl(t, jobYAML("e2e-ci", "built", repo, "notebooks/built.ipynb", "local.test/unbuilt:never", external), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, "e2e-ci", "built", time.Minute, v1alpha1.PhaseBuilding)
	image := pushImageWithBuiltModule(t, realcluster.Registry+"/e2e-ci/built:ci")

	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// From outside the cluster network: the node's address, routed by the public host name.
	out, err := runNBV(t, "ci-event", "--url", ingressURL(), "--host", publicHost("build-status-changed"), "--namespace", "e2e-ci", "--job", "built",
		"--status", "succeeded", "--image", image, "--key-file", keyFile, "--message", "built by e2e")
	if err != nil {
		t.Fatalf("nbv ci-event: %v\n%s", err, out)
	}
	job := waitPhase(t, "e2e-ci", "built", 3*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	if job.Status.Phase != v1alpha1.PhaseSucceeded {
		t.Fatalf("phase %s: %s", job.Status.Phase, job.Status.Message)
	}
	pod, err := kube(t).CoreV1().Pods("e2e-ci").Get(context.Background(), job.Status.ValidationPodName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := pod.Spec.Containers[0].Image; img != image {
		t.Errorf("validation pod image %q, want the reported %q", img, image)
	}
}

// pushImageWithBuiltModule pushes to tag (in the cluster's registry) the notebook image with
// one more layer, which adds the module nbv_e2e_built (ADDED = 42) to Python's path, and
// returns the pushed image's reference by digest.
func pushImageWithBuiltModule(t *testing.T, tag string) string {
	t.Helper()
	base, err := name.NewTag(realcluster.NotebookImage, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(base)
	if err != nil {
		t.Fatalf("pull %s: %v", base, err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	body := []byte("ADDED = 42\n")
	if err := tw.WriteHeader(&tar.Header{Name: "usr/lib/python3/dist-packages/nbv_e2e_built.py", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	added, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.AppendLayers(img, added)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatalf("push %s: %v", dst, err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return dst.Context().Digest(digest.String()).String()
}

// TestFunctionPodDeletedMidRun: the job-created pod is killed (deleted without grace) as the
// job is created, and the pod-completed pod while the validation pod runs. Serving starts new
// pods, the broker redelivers (through the activator) what the old ones did not answer, and
// the job still ends Succeeded with every result.
func TestFunctionPodDeletedMidRun(t *testing.T) {
	repo := gitServer(t, notebooks)
	optedInNamespace(t, "e2e-chaos")
	// A function at zero gets a pod for the event the activator holds: that pod is killed as
	// soon as it exists, before or while it answers.
	deleteFunctionPods := func(function string) {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			pods, err := kube(t).CoreV1().Pods(realcluster.FunctionsNamespace).List(context.Background(),
				metav1.ListOptions{LabelSelector: servingServiceLabel + "=" + function})
			if err != nil {
				t.Fatal(err)
			}
			deleted := 0
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					continue
				}
				if _, err := kubectl(t, "", "delete", "pod", "-n", realcluster.FunctionsNamespace, p.Name, "--grace-period=0", "--force"); err != nil {
					t.Fatal(err)
				}
				t.Logf("deleted %s (%s)", p.Name, p.Status.Phase)
				deleted++
			}
			if deleted > 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no %s pod started within a minute", function)
	}
	dead := deadLetters(t)
	before := dead.count()
	start := time.Now()
	if _, err := kubectl(t, jobYAML("e2e-chaos", "survives", repo, "notebooks/compute.ipynb", realcluster.NotebookImage, ""), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	deleteFunctionPods("job-created")
	waitPhase(t, "e2e-chaos", "survives", 2*time.Minute, v1alpha1.PhaseValidationRunning, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	deleteFunctionPods("pod-completed")
	job := waitPhase(t, "e2e-chaos", "survives", 3*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	t.Logf("kubectl apply -> %s in %s with two function pods deleted", job.Status.Phase, time.Since(start).Round(time.Millisecond))
	if job.Status.Phase != v1alpha1.PhaseSucceeded {
		t.Fatalf("phase %s: %s", job.Status.Phase, job.Status.Message)
	}
	if len(job.Status.Results) != 3 {
		t.Errorf("results %+v, want 3", job.Status.Results)
	}
	if n := dead.count() - before; n > 0 {
		t.Errorf("%d events dead-lettered: the broker gave up on what the killed pods held", n)
	}
	// Redelivered events and replayed transitions must not have started the notebook twice.
	pods, err := kube(t).CoreV1().Pods("e2e-chaos").List(context.Background(),
		metav1.ListOptions{LabelSelector: v1alpha1.LabelJob + "=survives"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Name != job.Status.ValidationPodName {
		names := []string{}
		for _, p := range pods.Items {
			names = append(names, p.Name)
		}
		t.Errorf("validation pods %v, want exactly %s", names, job.Status.ValidationPodName)
	}
}

// TestJobOutsideOptedInNamespaceIsRefused: on the real cluster, kubectl apply of a job into a
// namespace without the opt-in label is refused by the API server (the admission policy of
// config/admission/opt-in.yaml), saying what to apply; nothing is stored.
func TestJobOutsideOptedInNamespaceIsRefused(t *testing.T) {
	if _, err := kubectl(t, "", "create", "namespace", "e2e-not-opted"); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl(t, jobYAML("e2e-not-opted", "refused", "http://git.invalid/x.git", "x.ipynb", realcluster.NotebookImage, ""), "apply", "-f", "-")
	if err == nil {
		t.Fatalf("kubectl apply into a namespace that has not opted in succeeded: %s", out)
	}
	for _, want := range []string{"has not opted in", "mlops.mlops.dev/nbv=enabled", "kubectl apply -n e2e-not-opted -f config/rbac/opt-in/"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if got, _ := kubectl(t, "", "get", "nvj", "-n", "e2e-not-opted", "-o", "name"); strings.TrimSpace(got) != "" {
		t.Errorf("a refused job was stored: %s", got)
	}
}
