package integration

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/hostkubelet"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// TestRunnerRedactsPodCredentials runs a validation pod whose notebook prints, and fails with,
// the value of a Secret the job hands it through podConfig.credentials. The pod is the one
// validationpod.Build makes, run by the host kubelet with the real nbv-runner and Python on
// the real API server. Neither the termination message the pod-completed function reads,
// nor the outcome it derives from it, nor any file the runner or the kubelet wrote (executed
// notebook, report.json, junit.xml, container logs) holds the value; only the Secret's own
// volume does.
func TestRunnerRedactsPodCredentials(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := newNamespace(t, ctx, cp)
	client := kubernetes.NewForConfigOrDie(cp.RESTConfig())

	const token = "sk-live-9f8e7d6c5b4a3928"
	// A password holding what HTML, XML and JSON escape, and non-ASCII: each output spells it
	// differently, so it is searched by markers no escaping changes (Zq9 … Hb7).
	const hostile = `Zq9&Tk<Lm>Vx"Wy'Rz\Ü€+Hb7`
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "api-creds"},
		StringData: map[string]string{"API_TOKEN": token, "DB_PASSWORD": hostile}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	runnerBin := hostRunner(t, ctx, tmp)
	repoURL := "file://" + hkGitRepo(t, filepath.Join(tmp, "repo"), map[string][]string{"leak.ipynb": {
		"import os, sys\ntoken = os.environ['API_TOKEN']\nprint('the token is', token)\nsys.stderr.write('stderr: ' + token + '\\n')\npw = os.environ['DB_PASSWORD']\nprint('password', pw)",
		"pw",
		"raise PermissionError('token ' + token + ' was refused, password ' + pw)",
	}})
	workDir := filepath.Join(tmp, "work")
	runCtx, stop := context.WithCancel(ctx)
	k := hostkubelet.New(cp.RESTConfig(), hostkubelet.Options{RunnerBinary: runnerBin, WorkDir: workDir, NodeName: "host", Namespace: ns,
		Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	runDone := make(chan error, 1)
	go func() { runDone <- k.Run(runCtx) }()
	defer func() {
		stop()
		<-runDone
	}()

	job := &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "leaky", Namespace: ns, UID: uuid.NewUUID()},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook:  v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: repoURL, Ref: "master"}, Path: "leak.ipynb"},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "quay.io/jupyter/minimal-notebook", Credentials: []string{"api-creds"}},
			Timeout:   "2m",
		},
	}
	pod, err := validationpod.Build(job, statemachine.PodName(job, 0), job.Spec.PodConfig.ContainerImage, validationpod.Options{RunnerImage: testRunnerImage})
	if err != nil {
		t.Fatal(err)
	}
	if pod, err = client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		if ctx.Err() != nil {
			t.Fatalf("pod never finished: %+v", pod.Status)
		}
		time.Sleep(200 * time.Millisecond)
		if pod, err = client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	outcome := validationpod.Classify(pod)
	if outcome.State != validationpod.StateFailed || outcome.Summary == nil || outcome.Summary.FirstFailure == nil {
		t.Fatalf("outcome %s/%s %q, want the notebook's failure", outcome.State, outcome.Reason, outcome.Message)
	}
	if want := "PermissionError: token *** was refused, password ***"; outcome.Summary.FirstFailure.Error != want {
		t.Errorf("first failure %q, want %q", outcome.Summary.FirstFailure.Error, want)
	}
	texts := map[string]string{"outcome message (status.message)": outcome.Message}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Terminated != nil {
			texts["termination message of "+cs.Name] = cs.State.Terminated.Message
		}
	}
	leaks := func(text string) bool {
		return strings.Contains(text, token) || strings.Contains(text, "Zq9") || strings.Contains(text, "Hb7")
	}
	for where, text := range texts {
		if leaks(text) {
			t.Errorf("%s holds a credential: %s", where, text)
		}
	}
	// Every file of the pod but the Secret's own volume: outputs, logs, termination messages.
	var checked []string
	err = filepath.WalkDir(workDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(workDir, p)
		if strings.Contains(rel, "nbv-redact-") || strings.Contains(rel, "nbv-bin") {
			return nil // the Secret's own volume; the runner binary prepare installed
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked = append(checked, rel)
		if leaks(string(b)) {
			t.Errorf("%s holds a credential", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"executed.ipynb", "report.json", "junit.xml", "report.html", "notebook.log"} {
		if !strings.Contains(strings.Join(checked, " "), want) {
			t.Errorf("no %s among the pod's files %v", want, checked)
		}
	}
}
