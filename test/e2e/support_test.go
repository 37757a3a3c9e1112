//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlops-dev/nbv/internal/cmdoutput"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/optin"
	"github.com/mlops-dev/nbv/internal/realcluster"
	"github.com/mlops-dev/nbv/internal/realcluster/knative"
	"github.com/mlops-dev/nbv/internal/realcluster/node"
)

// kubectl runs the real kubectl against the cluster and returns its standard output (its
// warnings go to stderr, which only an error carries).
func kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(controlplane.DefaultBinDir(), "kubectl"),
		append([]string{"--kubeconfig", cluster.ControlPlane.KubeconfigPath()}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmdoutput.Stdout(cmd)
	return string(out), err
}

func kube(t *testing.T) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// optedInNamespace creates a namespace and opts it in as an operator would
// (config/rbac/opt-in plus the label the event sources select).
func optedInNamespace(t *testing.T, name string) {
	t.Helper()
	if _, err := kubectl(t, "", "create", "namespace", name); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := optin.Namespace(ctx, cluster.RESTConfig(), repoRoot, name); err != nil {
		t.Fatal(err)
	}
	waitAdaptersWatch(t, name)
}

// waitAdaptersWatch waits until every ApiServerSource adapter watches namespace. Knative's
// controller lists the selected namespaces in the adapter's K_SOURCE_CONFIG, so opting a
// namespace in rolls the adapters out again; an object created before the new adapter runs
// raises no event (its initial list sends none), and only the sweep would find it.
func waitAdaptersWatch(t *testing.T, namespace string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		deps, err := kube(t).AppsV1().Deployments("nbv-system").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		adapters, stale := 0, []string{}
		for _, d := range deps.Items {
			if !strings.HasPrefix(d.Name, "apiserversource-") {
				continue
			}
			adapters++
			if !slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool {
				return e.Name == "K_SOURCE_CONFIG" && strings.Contains(e.Value, `"`+namespace+`"`)
			}) {
				stale = append(stale, d.Name)
			}
		}
		if adapters > 0 && len(stale) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ApiServerSource adapters not told to watch %s: %v", namespace, stale)
		case <-time.After(250 * time.Millisecond):
		}
	}
	// Then until their new pods have replaced the old ones.
	if err := knative.WaitAvailable(ctx, cluster.RESTConfig(), "nbv-system"); err != nil {
		t.Fatal(err)
	}
}

// jobYAML is a NotebookValidationJob running path from the test's git server in image.
func jobYAML(namespace, name, repoURL, path, image, extraPodConfig string) string {
	return fmt.Sprintf(`apiVersion: mlops.mlops.dev/v1alpha1
kind: NotebookValidationJob
metadata:
  name: %s
  namespace: %s
spec:
  notebook:
    git:
      url: %s
      ref: main
    path: %s
  podConfig:
    containerImage: %s
%s  timeout: 5m
`, name, namespace, repoURL, path, image, extraPodConfig)
}

// getJob reads a job through kubectl, as a user would.
func getJob(t *testing.T, namespace, name string) v1alpha1.NotebookValidationJob {
	t.Helper()
	out, err := kubectl(t, "", "get", "notebookvalidationjob", name, "-n", namespace, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var job v1alpha1.NotebookValidationJob
	if err := json.Unmarshal([]byte(out), &job); err != nil {
		t.Fatalf("decoding job %s/%s: %v", namespace, name, err)
	}
	return job
}

// waitPhase polls the job until its phase is one of phases, failing the test on timeout with
// the job's last status and the namespace's events.
func waitPhase(t *testing.T, namespace, name string, timeout time.Duration, phases ...string) v1alpha1.NotebookValidationJob {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		job := getJob(t, namespace, name)
		for _, p := range phases {
			if job.Status.Phase == p {
				return job
			}
		}
		if time.Now().After(deadline) {
			events, _ := kubectl(t, "", "get", "events", "-n", namespace, "--sort-by=.lastTimestamp")
			t.Fatalf("job %s/%s: phase %q after %s, want %v; message %q\nevents:\n%s",
				namespace, name, job.Status.Phase, timeout, phases, job.Status.Message, events)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// functionPods lists the Running pods of a function (the pods of its Knative Service's
// revisions, which Serving labels with the Service's name).
func functionPods(t *testing.T, function string) []corev1.Pod {
	t.Helper()
	pods, err := kube(t).CoreV1().Pods(realcluster.FunctionsNamespace).List(context.Background(),
		metav1.ListOptions{LabelSelector: servingServiceLabel + "=" + function})
	if err != nil {
		t.Fatal(err)
	}
	var running []corev1.Pod
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			running = append(running, p)
		}
	}
	return running
}

// servingServiceLabel is the label Serving puts on every pod of a Knative Service.
const servingServiceLabel = "serving.knative.dev/service"

// functions are the Knative Services of config/functions.
var functions = []string{"job-created", "pod-completed", "build-status-changed", "sweep"}

// publicHost is the host name build-status-changed (the one public function) is routed by.
func publicHost(function string) string {
	return function + "." + realcluster.FunctionsNamespace + "." + realcluster.Domain
}

// ingressURL is Traefik's public entry point at the node's address, as a client outside the
// cluster's network reaches it.
func ingressURL() string {
	return fmt.Sprintf("http://%s:%d", node.NodeIP, knative.TraefikNodePort)
}

// gitServer serves a repository holding the notebooks under notebooks/ (name -> fixture in
// test/fixtures/notebooks) over git's smart HTTP protocol; see gitRepoServer.
func gitServer(t *testing.T, notebooks map[string]string) string {
	t.Helper()
	files := map[string][]byte{}
	for name, fixture := range notebooks {
		files["notebooks/"+name] = notebookFixture(t, fixture)
	}
	return gitRepoServer(t, files)
}

// notebookFixture reads a notebook of test/fixtures/notebooks.
func notebookFixture(t *testing.T, fixture string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "test", "fixtures", "notebooks", fixture))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// gitRepoServer serves a repository holding files (path in the repository -> content), one
// commit on main, over git's smart HTTP protocol (git http-backend), on the host end of the
// node's veth, where pods reach it. It returns the repository's URL.
func gitRepoServer(t *testing.T, files map[string][]byte) string {
	t.Helper()
	url, _ := gitRepoServerAt(t, files)
	return url
}

// gitRepoServerAt is gitRepoServer that also returns the commit main is at.
func gitRepoServerAt(t *testing.T, files map[string][]byte) (url, commit string) {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is needed to serve the notebook repository: run hack/install-e2e-deps.sh")
	}
	root := t.TempDir()
	work := filepath.Join(root, "work")
	for name, data := range files {
		path := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(dir string, args ...string) {
		cmd := exec.Command(gitBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com",
			"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(work, "init", "-q", "-b", "main")
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "notebooks")
	git(root, "clone", "-q", "--bare", work, "notebooks.git")
	head, err := exec.Command(gitBin, "-C", work, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}

	execPath, err := exec.Command(gitBin, "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	l, err := net.Listen("tcp", net.JoinHostPort(node.HostIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: backend, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/notebooks.git", strings.TrimSpace(string(head))
}

// runNBV runs the nbv CLI built in TestMain.
func runNBV(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(nbvBin, args...).CombinedOutput()
	return string(out), err
}

// deadLetterRecorder counts the events the dead-letter Broker (nbv-dead-letter, every Trigger's
// deadLetterSink) delivers to a Trigger of the test's own, served on the host end of the
// node's veth.
type deadLetterRecorder struct {
	mu sync.Mutex
	n  int
}

func (d *deadLetterRecorder) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

var (
	deadLetterOnce sync.Once
	deadLetterRec  *deadLetterRecorder
	deadLetterErr  error
)

// deadLetters starts the recorder once per run and waits until its Trigger is Ready.
func deadLetters(t *testing.T) *deadLetterRecorder {
	t.Helper()
	deadLetterOnce.Do(func() { deadLetterRec, deadLetterErr = startDeadLetterRecorder(t) })
	if deadLetterErr != nil {
		t.Fatal(deadLetterErr)
	}
	return deadLetterRec
}

func startDeadLetterRecorder(t *testing.T) (*deadLetterRecorder, error) {
	rec := &deadLetterRecorder{}
	l, err := net.Listen("tcp", net.JoinHostPort(node.HostIP, "0"))
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.n++
		rec.mu.Unlock()
		// Knative's extensions say where the event was going and what that answered last.
		answer, _ := base64.StdEncoding.DecodeString(r.Header.Get("Ce-Knativeerrordata"))
		fmt.Printf("e2e: dead letter: type %s source %s subject %s; to %s, last answer %s %q\n", r.Header.Get("Ce-Type"), r.Header.Get("Ce-Source"),
			r.Header.Get("Ce-Subject"), r.Header.Get("Ce-Knativeerrordest"), r.Header.Get("Ce-Knativeerrorcode"), answer)
		w.WriteHeader(http.StatusAccepted)
	})}
	go func() { _ = srv.Serve(l) }()
	trigger := fmt.Sprintf(`apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: e2e-dead-letters
  namespace: %s
spec:
  broker: nbv-dead-letter
  subscriber:
    uri: http://%s/
`, realcluster.FunctionsNamespace, l.Addr().String())
	if _, err := kubectl(t, trigger, "apply", "-f", "-"); err != nil {
		return nil, err
	}
	if _, err := kubectl(t, "", "wait", "--for=condition=Ready", "--timeout=2m", "-n", realcluster.FunctionsNamespace, "trigger/e2e-dead-letters"); err != nil {
		return nil, fmt.Errorf("dead-letter Trigger not Ready: %w", err)
	}
	return rec, nil
}
