//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/realcluster"
)

// builtModuleDockerfile is a Dockerfile FROM the notebook image whose RUN step adds the Python
// module the imports-built-module notebook imports; the notebook image has no such module.
var builtModuleDockerfile = "FROM " + realcluster.NotebookImage + "\n" +
	"USER root\n" +
	"RUN printf 'ADDED = 42\\n' > /usr/lib/python3/dist-packages/nbv_e2e_built.py\n" +
	"USER 1000\n"

// builtJobs is how many jobs TestTektonBuildRunsInBuiltImage builds at once: each one is a
// sample of the build figures.
const builtJobs = 2

// TestTektonBuildRunsInBuiltImage: jobs whose repository has a Dockerfile are built by real
// Tekton PipelineRuns with kaniko (selected by the job's strategyConfig, allowed by the
// installer), which push to the cluster's registry; each PipelineRun's completion event wakes
// build-status-changed, the validation pod runs in the built image by the digest kaniko
// reported, and the notebook imports the module the Dockerfile added. It prints the build
// timings and PipelineRun succeeded -> validation pod created -> Running.
func TestTektonBuildRunsInBuiltImage(t *testing.T) {
	repo := gitRepoServer(t, map[string][]byte{
		"Dockerfile":            []byte(builtModuleDockerfile),
		"notebooks/built.ipynb": notebookFixture(t, "imports-built-module.ipynb"),
	})
	const ns = "e2e-tekton"
	optedInNamespace(t, ns)
	for i := range builtJobs {
		if _, err := kubectl(t, builtJobYAML(ns, fmt.Sprintf("built-%d", i), repo, "15m"), "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
	}
	var created, running []time.Duration
	for i := range builtJobs {
		name := fmt.Sprintf("built-%d", i)
		job := waitPhase(t, ns, name, 12*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
		if job.Status.Phase != v1alpha1.PhaseSucceeded {
			t.Fatalf("job %s: phase %s: %s\n%s", name, job.Status.Phase, job.Status.Message, buildLogs(t, ns, job))
		}
		pr := pipelineRun(t, ns, job)
		if reason := succeededReason(pr); reason != "Succeeded" {
			t.Errorf("PipelineRun %s: Succeeded reason %q, want Tekton's Succeeded", pr.GetName(), reason)
		}
		url, digest := result(pr, "IMAGE_URL"), result(pr, "IMAGE_DIGEST")
		if !strings.HasPrefix(url, realcluster.Registry+"/"+ns+"/"+name+":") || !strings.HasPrefix(digest, "sha256:") {
			t.Errorf("PipelineRun results IMAGE_URL %q IMAGE_DIGEST %q: want an image of %s/%s/%s and kaniko's digest", url, digest, realcluster.Registry, ns, name)
		}
		pod, err := kube(t).CoreV1().Pods(ns).Get(context.Background(), job.Status.ValidationPodName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := pod.Spec.Containers[0].Image; !strings.HasSuffix(img, "@"+digest) || !strings.HasPrefix(img, realcluster.Registry+"/"+ns+"/"+name) {
			t.Errorf("validation pod image %q, want the built image by kaniko's digest %s", img, digest)
		}
		done := conditionTime(pr, "Succeeded")
		created = append(created, pod.CreationTimestamp.Sub(done))
		running = append(running, podRunningAt(pod).Sub(done))
		printBuildTimings(t, ns, name, pr)
	}
	fmt.Printf("e2e: PipelineRun succeeded -> validation pod created over %d builds: p50 %s, max %s\n", len(created), p50(created), maxOf(created))
	fmt.Printf("e2e: PipelineRun succeeded -> validation pod Running over %d builds: p50 %s, max %s\n", len(running), p50(running), maxOf(running))
}

// TestTektonBuildFailureNamesTheStep: a Dockerfile whose RUN step fails fails the PipelineRun
// and the job, whose message names the failing step, its exit code (kaniko exits with the
// RUN's) and the kubectl logs command that shows what it said.
func TestTektonBuildFailureNamesTheStep(t *testing.T) {
	repo := gitRepoServer(t, map[string][]byte{
		"Dockerfile": []byte("FROM " + realcluster.NotebookImage + "\n" +
			"RUN echo nbv-e2e-broken-requirement >&2; exit 3\n"),
		"notebooks/built.ipynb": notebookFixture(t, "imports-built-module.ipynb"),
	})
	const ns = "e2e-tekton-fail"
	optedInNamespace(t, ns)
	if _, err := kubectl(t, builtJobYAML(ns, "broken", repo, "15m"), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	job := waitPhase(t, ns, "broken", 10*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	if job.Status.Phase != v1alpha1.PhaseFailed {
		t.Fatalf("phase %s, want Failed: %s", job.Status.Phase, job.Status.Message)
	}
	pr := pipelineRun(t, ns, job)
	if reason := succeededReason(pr); reason != "Failed" {
		t.Errorf("PipelineRun %s: Succeeded reason %q, want Tekton's Failed", pr.GetName(), reason)
	}
	for _, want := range []string{`step "build-and-push" of TaskRun`, "exited with code 3", "(its output: kubectl logs -n " + ns} {
		if !strings.Contains(job.Status.Message, want) {
			t.Errorf("job message %q does not name the failing step, its exit code and where its output is (%s)", job.Status.Message, want)
		}
	}
	// The command the message gives shows what the RUN step said.
	_, command, _ := strings.Cut(job.Status.Message, "(its output: kubectl ")
	out, err := kubectl(t, "", strings.Fields(strings.TrimSuffix(command, ")"))...)
	if err != nil || !strings.Contains(out, "nbv-e2e-broken-requirement") {
		t.Errorf("kubectl %s: %v, output without the RUN step's message:\n%s", command, err, out)
	}
	if job.Status.ValidationPodName != "" {
		t.Errorf("a failed build started validation pod %s", job.Status.ValidationPodName)
	}
}

// TestTektonBuildTimeoutIsTektons: a build that outlives its buildConfig.timeout is stopped by
// Tekton (the PipelineRun's own timeout, which job-created sets from it) and the job ends
// Failed for that reason, long before the job's own deadline, which the sweep enforces.
func TestTektonBuildTimeoutIsTektons(t *testing.T) {
	repo := gitRepoServer(t, map[string][]byte{
		"Dockerfile":            []byte("FROM " + realcluster.NotebookImage + "\nRUN sleep 600\n"),
		"notebooks/built.ipynb": notebookFixture(t, "imports-built-module.ipynb"),
	})
	const ns = "e2e-tekton-timeout"
	optedInNamespace(t, ns)
	if _, err := kubectl(t, builtJobYAML(ns, "slow", repo, "30s"), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	job := waitPhase(t, ns, "slow", 5*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	if job.Status.Phase != v1alpha1.PhaseFailed {
		t.Fatalf("phase %s, want Failed: %s", job.Status.Phase, job.Status.Message)
	}
	pr := pipelineRun(t, ns, job)
	if reason := succeededReason(pr); reason != "PipelineRunTimeout" {
		t.Errorf("PipelineRun %s: Succeeded reason %q, want Tekton's PipelineRunTimeout", pr.GetName(), reason)
	}
	if !strings.Contains(strings.ToLower(job.Status.Message), "timed out") && !strings.Contains(strings.ToLower(job.Status.Message), "timeout") {
		t.Errorf("job message %q does not say the build timed out", job.Status.Message)
	}
	fmt.Printf("e2e: a 30s build timeout ended the job Failed after %s\n", time.Since(start).Round(time.Second))
}

// builtJobYAML is a job built by Tekton with kaniko from repo's Dockerfile, pushed to the
// cluster's registry, with the build timeout given (the job's own timeout counts from the
// build's end).
func builtJobYAML(namespace, name, repo, buildTimeout string) string {
	build := fmt.Sprintf(`    buildConfig:
      enabled: true
      strategy: tekton
      dockerfile: Dockerfile
      timeout: %s
      strategyConfig:
        builder: kaniko
        builderImage: %s
        gitImage: %s
        registry: %s
`, buildTimeout, realcluster.KanikoImage, realcluster.NotebookImage, realcluster.Registry)
	return jobYAML(namespace, name, repo, "notebooks/built.ipynb", realcluster.NotebookImage, build)
}

var (
	pipelineRuns = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}
	taskRuns     = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "taskruns"}
)

func tektonObject(t *testing.T, gvr schema.GroupVersionResource, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	client, err := dynamic.NewForConfig(cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	obj, err := client.Resource(gvr).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", gvr.Resource, namespace, name, err)
	}
	return obj
}

// pipelineRun is the job's build child as Tekton left it.
func pipelineRun(t *testing.T, namespace string, job v1alpha1.NotebookValidationJob) *unstructured.Unstructured {
	t.Helper()
	if job.Status.BuildStatus == nil || job.Status.BuildStatus.BuildName == "" {
		t.Fatalf("job %s/%s names no build", namespace, job.Name)
	}
	return tektonObject(t, pipelineRuns, namespace, job.Status.BuildStatus.BuildName)
}

// taskRun is the one TaskRun of a PipelineRun of ours.
func taskRun(t *testing.T, pr *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	refs, _, _ := unstructured.NestedSlice(pr.Object, "status", "childReferences")
	if len(refs) != 1 {
		t.Fatalf("PipelineRun %s has %d children, want its one TaskRun", pr.GetName(), len(refs))
	}
	name, _, _ := unstructured.NestedString(refs[0].(map[string]any), "name")
	return tektonObject(t, taskRuns, pr.GetNamespace(), name)
}

func condition(obj *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m := c.(map[string]any); m["type"] == typ {
			return m
		}
	}
	return nil
}

func succeededReason(obj *unstructured.Unstructured) string {
	reason, _ := condition(obj, "Succeeded")["reason"].(string)
	return reason
}

func conditionTime(obj *unstructured.Unstructured, typ string) time.Time {
	at, _ := condition(obj, typ)["lastTransitionTime"].(string)
	ts, _ := time.Parse(time.RFC3339, at)
	return ts
}

func result(pr *unstructured.Unstructured, name string) string {
	results, _, _ := unstructured.NestedSlice(pr.Object, "status", "results")
	for _, r := range results {
		if m := r.(map[string]any); m["name"] == name {
			v, _ := m["value"].(string)
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// podRunningAt is when the pod's first container started.
func podRunningAt(pod *corev1.Pod) time.Time {
	for _, s := range pod.Status.ContainerStatuses {
		switch {
		case s.State.Running != nil:
			return s.State.Running.StartedAt.Time
		case s.State.Terminated != nil:
			return s.State.Terminated.StartedAt.Time
		}
	}
	return time.Time{}
}

// printBuildTimings prints how long each step of the build took, from the TaskRun's steps and
// the kubelet's timestamps on kaniko's log (which says when it starts pushing).
func printBuildTimings(t *testing.T, namespace, job string, pr *unstructured.Unstructured) {
	t.Helper()
	tr := taskRun(t, pr)
	steps, _, _ := unstructured.NestedSlice(tr.Object, "status", "steps")
	var parts []string
	var buildContainer string
	var first time.Time // the first step's start
	for _, s := range steps {
		m := s.(map[string]any)
		name, _ := m["name"].(string)
		started, _, _ := unstructured.NestedString(m, "terminated", "startedAt")
		finished, _, _ := unstructured.NestedString(m, "terminated", "finishedAt")
		from, _ := time.Parse(time.RFC3339, started)
		to, _ := time.Parse(time.RFC3339, finished)
		parts = append(parts, fmt.Sprintf("%s %s", name, to.Sub(from)))
		if first.IsZero() || from.Before(first) {
			first = from
		}
		if name == "build-and-push" {
			buildContainer, _ = m["container"].(string)
		}
	}
	podName, _, _ := unstructured.NestedString(tr.Object, "status", "podName")
	out, err := kubectl(t, "", "logs", "-n", namespace, podName, "-c", buildContainer, "--timestamps")
	if err == nil {
		// The first and last lines and the one that starts the push, to the nanosecond.
		logStart, logEnd := logLineTime(out, ""), lastLogLineTime(out)
		if pushing := logLineTime(out, "Pushing image to"); !pushing.IsZero() && !logStart.IsZero() {
			parts = append(parts, fmt.Sprintf("of which kaniko build %s, push %s", pushing.Sub(logStart).Round(10*time.Millisecond), logEnd.Sub(pushing).Round(10*time.Millisecond)))
		}
	}
	created := pr.GetCreationTimestamp().Time
	fmt.Printf("e2e: build of %s/%s: PipelineRun created -> first step started %s (TaskRun pod scheduled, images pulled, init containers); %s; PipelineRun %s\n",
		namespace, job, first.Sub(created).Round(time.Second), strings.Join(parts, ", "),
		conditionTime(pr, "Succeeded").Sub(created).Round(time.Second))
}

// lastLogLineTime is the kubelet's timestamp of the last line of log (kubectl logs
// --timestamps).
func lastLogLineTime(log string) time.Time {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	ts, _, _ := strings.Cut(lines[len(lines)-1], " ")
	at, _ := time.Parse(time.RFC3339Nano, ts)
	return at
}

// logLineTime is the kubelet's timestamp of the first line of log (kubectl logs --timestamps)
// containing text.
func logLineTime(log, text string) time.Time {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		ts, line, ok := strings.Cut(sc.Text(), " ")
		if ok && strings.Contains(line, text) {
			at, _ := time.Parse(time.RFC3339Nano, ts)
			return at
		}
	}
	return time.Time{}
}

// buildLogs is the logs of every step of the job's build, for a failure message.
func buildLogs(t *testing.T, namespace string, job v1alpha1.NotebookValidationJob) string {
	t.Helper()
	out, _ := kubectl(t, "", "logs", "-n", namespace, "-l", "tekton.dev/pipelineRun="+job.Status.BuildStatus.BuildName, "--all-containers", "--tail=40")
	return out
}
