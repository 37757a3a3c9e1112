package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/artifact"
	"github.com/mlops-dev/nbv/internal/local/localregistry"
	"github.com/mlops-dev/nbv/internal/transition"
)

// requireRegistry starts the Distribution registry `make registry` builds, as the installer's
// registry for run records, and installs it for ns (ConfigMap nbv-system/nbv-artifacts, the
// push Secret in ns). The ConfigMap is removed when the test ends, so that other tests'
// function instances start without a registry.
func requireRegistry(t *testing.T, ctx context.Context, ns string) *localregistry.Registry {
	t.Helper()
	cp := requireControlPlane(t)
	if _, err := os.Stat(localregistry.Binary()); err != nil {
		t.Skipf("no registry binary (make registry): %v", err)
	}
	reg, err := localregistry.Start(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	if err := reg.Install(ctx, cp.RESTConfig(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := kubernetes.NewForConfigOrDie(cp.RESTConfig()).CoreV1().ConfigMaps(localregistry.ConfigMapNamespace).Delete(context.Background(), localregistry.ConfigMap, metav1.DeleteOptions{})
		if err != nil {
			t.Errorf("remove the registry's ConfigMap: %v", err)
		}
	})
	return reg
}

// newFixtureWithRegistry is newFixture with the registry for run records installed for its
// namespace first: the functions read its ConfigMap when an instance starts, on the first event.
func newFixtureWithRegistry(t *testing.T, ctx context.Context) (*fixture, *localregistry.Registry) {
	t.Helper()
	ns := newNamespace(t, ctx, requireControlPlane(t))
	reg := requireRegistry(t, ctx, ns)
	f := newFixture(t, 1)
	if f.ns != ns {
		t.Fatalf("fixture namespace %s, want %s", f.ns, ns)
	}
	return f, reg
}

// TestRunRecordIsPushedAndFetchedByNbvReport: a job run on the local stack with a registry
// configured ends with status.artifact naming its record by digest and an Event saying where
// it is; `nbv report` fetches the executed notebook and report.html back, byte for byte what
// the run wrote in its pod. The notebook looks for the push credential in its environment, at
// the path the publish container mounts it, at the host path of that volume (the host kubelet
// keeps a pod's volumes side by side) and in every process's environment and root, and finds
// nothing.
func TestRunRecordIsPushedAndFetchedByNbvReport(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f, reg := newFixtureWithRegistry(t, ctx)
	ns := f.ns
	repoURL, work := f.startHostKubeletIn(map[string][]string{"record.ipynb": {
		"import os, glob\n" +
			"found = [k for k, v in os.environ.items() if 'DOCKER' in k or 'dockerconfig' in v or '" + reg.Password + "' in v or 'registry' in v]\n" +
			"for p in ['/nbv/credentials/registry/config.json', os.path.expanduser('~/.docker/config.json')]:\n" +
			"    if os.path.exists(p):\n        found.append(p)\n" +
			"found += [p for p in glob.glob('/nbv/credentials/**', recursive=True) if os.path.isfile(p)]\n" +
			"# On the host kubelet the pod's volumes are siblings of this container's HOME: try the\n" +
			"# publish sidecar's by that path, and every process's environment and root.\n" +
			"pod = os.path.dirname(os.path.dirname(os.environ['HOME']))\n" +
			"for p in glob.glob(os.path.join(pod, '*', 'config.json')) + glob.glob('/proc/[0-9]*/root' + pod + '/*/config.json'):\n" +
			"    try:\n        open(p).read(); found.append(p)\n    except OSError:\n        pass\n" +
			"for p in glob.glob('/proc/[0-9]*/environ'):\n" +
			"    try:\n        if '" + reg.Password + "'.encode() in open(p, 'rb').read(): found.append(p)\n    except OSError:\n        pass\n" +
			"print('credential found:', found)",
		"assert not found, found\nprint('answer', 6 * 7)",
	}})
	f.createJob("record", func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.Notebook = v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: repoURL, Ref: "master"}, Path: "record.ipynb"}
	})
	job := f.waitJob("record", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
	a := job.Status.Artifact
	if a == nil || !strings.HasPrefix(a.Reference, reg.Repository()+"/"+ns+"@sha256:") || a.ArtifactType != artifact.ArtifactType ||
		strings.Join(a.Files, ",") != "executed.ipynb,report.html,report.json,junit.xml" {
		t.Fatalf("status.artifact %+v (message %q)", a, job.Status.Message)
	}

	// The Event on the job says where the record is.
	evs := eventsUntil(t, ctx, f.kube, ns, "involvedObject.name=record,reason="+transition.ReasonArtifactPushed, func(evs []corev1.Event) bool { return len(evs) > 0 })
	if len(evs) != 1 || evs[0].Type != corev1.EventTypeNormal || !strings.Contains(evs[0].Message, a.Reference) ||
		!strings.Contains(evs[0].Message, "nbv report -n "+ns+" record") {
		t.Errorf("ArtifactPushed events %+v", evs)
	}

	// nbv report, with the login of a pull-only user's docker config.
	login := t.TempDir()
	if err := os.WriteFile(filepath.Join(login, "config.json"), reg.DockerConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, stdout, stderr := nbv(ctx, "", "report", "record", "-n", ns, "--kubeconfig", cp.KubeconfigPath(), "--docker-config", login, "-o", out)
	if code != 0 {
		t.Fatalf("nbv report: exit %d\n%s%s", code, stdout, stderr)
	}
	ran := filepath.Join(work, ns, job.Status.ValidationPodName, "nbv-output")
	for _, name := range []string{"executed.ipynb", "report.html"} {
		want, err := os.ReadFile(filepath.Join(ran, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s fetched by nbv report differs from the run's (%v)", name, err)
		}
	}
	nb, _ := os.ReadFile(filepath.Join(out, "executed.ipynb"))
	if !strings.Contains(string(nb), "credential found: []") || !strings.Contains(string(nb), "answer 42") {
		t.Errorf("executed notebook lacks the run's outputs:\n%.3000s", nb)
	}

	// Without the login the registry refuses: the record is not public.
	anonymous := t.TempDir()
	if err := os.WriteFile(filepath.Join(anonymous, "config.json"), []byte(`{"auths": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = nbv(ctx, "", "report", "record", "-n", ns, "--kubeconfig", cp.KubeconfigPath(), "--docker-config", anonymous, "-o", t.TempDir())
	if code == 0 || !strings.Contains(strings.ToLower(stderr), "unauthorized") {
		t.Errorf("nbv report without a login: exit %d, %s", code, stderr)
	}
}
