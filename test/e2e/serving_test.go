//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/realcluster"
	"github.com/mlops-dev/nbv/internal/timechart"
)

// maxScale is the autoscaling.knative.dev/max-scale of every function in config/functions.
const maxScale = 10

var jobsGVR = schema.GroupVersionResource{Group: "mlops.mlops.dev", Version: "v1alpha1", Resource: "notebookvalidationjobs"}

// TestIdleFunctionsScaleToZero: with nothing to do, Serving removes every pod of every
// function (the sweep's PingSource wakes the sweep each minute, so the test waits for a
// moment when none runs).
func TestIdleFunctionsScaleToZero(t *testing.T) {
	start := time.Now()
	waitNoPods(t, functions, 3*time.Minute, true)
	t.Logf("no pod of %v after %s", functions, time.Since(start).Round(time.Second))
}

// TestOnlyCIIsPublic: build-status-changed's /ci is reached from outside the cluster network
// at the node's address by its public host name (the CloudEvents webhook handshake answers,
// waking the function through the activator); the other functions are cluster-local, and the
// public entry point routes nothing to them by any of their names.
func TestOnlyCIIsPublic(t *testing.T) {
	client := &http.Client{Timeout: 30 * time.Second}
	handshake := func(host string) *http.Response {
		req, err := http.NewRequest(http.MethodOptions, ingressURL()+"/ci", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("WebHook-Request-Origin", "ci.example.test")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("OPTIONS /ci with Host %s: %v", host, err)
		}
		resp.Body.Close()
		return resp
	}
	resp := handshake(publicHost("build-status-changed"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("WebHook-Allowed-Origin") != "ci.example.test" {
		t.Errorf("build-status-changed's public /ci: %s, WebHook-Allowed-Origin %q; want 200 and the origin",
			resp.Status, resp.Header.Get("WebHook-Allowed-Origin"))
	}
	for _, fn := range []string{"job-created", "pod-completed", "sweep"} {
		for _, host := range []string{publicHost(fn), fn + "." + realcluster.FunctionsNamespace + ".svc.cluster.local", fn + "." + realcluster.FunctionsNamespace} {
			if resp := handshake(host); resp.StatusCode != http.StatusNotFound {
				t.Errorf("public entry point with Host %s: %s, want 404 (%s is cluster-local)", host, resp.Status, fn)
			}
		}
	}
}

// TestColdStarts wakes job-created from zero ten times: each time, once no pod of it is left,
// a job is created and the time is taken to the function's pod being created, Ready as the
// kubelet reports it, and to the job's first status write (job-created's answer). The
// activator probes a new pod itself and hands it the held request as soon as it answers, so
// the answer often comes before the kubelet's Ready. The figures are logged.
func TestColdStarts(t *testing.T) {
	repo := gitServer(t, notebooks)
	const ns = "e2e-cold"
	optedInNamespace(t, ns)
	const wakeUps = 10
	var toPod, toReady, toAnswer []time.Duration
	for i := range wakeUps {
		waitNoPods(t, []string{"job-created"}, 3*time.Minute, false)
		awayFromPing()
		w := watchPods(t, "job-created")
		name := fmt.Sprintf("cold-%d", i)
		created := createJob(t, jobYAML(ns, name, repo, "notebooks/compute.ipynb", realcluster.NotebookImage, ""))
		answered := waitFirstStatus(t, ns, name, 2*time.Minute)
		added, ready := w.stop(30 * time.Second)
		if added.IsZero() || ready.IsZero() {
			t.Fatalf("wake-up %d: job-created pod created %v, Ready %v: no pod woke for the job", i, added, ready)
		}
		toPod = append(toPod, added.Sub(created))
		toReady = append(toReady, ready.Sub(created))
		toAnswer = append(toAnswer, answered.Sub(created))
		t.Logf("wake-up %d: pod created +%s, Ready +%s, job answered +%s", i,
			added.Sub(created).Round(time.Millisecond), ready.Sub(created).Round(time.Millisecond), answered.Sub(created).Round(time.Millisecond))
	}
	t.Logf("cold start of job-created over %d wake-ups (job created -> ...): pod created p50 %s max %s; pod Ready p50 %s max %s; answered p50 %s max %s",
		wakeUps, p50(toPod), maxOf(toPod), p50(toReady), maxOf(toReady), p50(toAnswer), maxOf(toAnswer))
}

// TestBurstStaysWithinMaxScale creates 100 jobs at once. Every job must end Succeeded with
// nothing dead-lettered (the activator queues what the pods cannot take yet), and no function
// may ever run more pods than its max-scale. The pods of each function over time are drawn in
// docs/e2e-burst-pods.png.
func TestBurstStaysWithinMaxScale(t *testing.T) {
	repo := gitServer(t, notebooks)
	const ns, jobs = "e2e-burst", 100
	optedInNamespace(t, ns)
	dead := deadLetters(t)
	before := dead.count()

	ctx, stopSampling := context.WithCancel(context.Background())
	samples := make(chan map[string][]timechart.Point, 1)
	start := time.Now()
	go func() { samples <- samplePods(ctx, t, start) }()

	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The node runs three validation pods at a time (their CPU requests): the last
			// ones wait minutes for their turn, longer than the usual 5m timeout.
			manifest := jobYAML(ns, fmt.Sprintf("burst-%03d", i), repo, "notebooks/compute.ipynb", realcluster.NotebookImage, "")
			createJob(t, strings.Replace(manifest, "timeout: 5m", "timeout: 30m", 1))
		}()
	}
	wg.Wait()
	created := time.Since(start)
	failed := waitAllTerminal(t, ns, jobs, 15*time.Minute)
	done := time.Since(start)
	lastJob := time.Now()
	waitNoPods(t, functions, 3*time.Minute, false)
	scaledToZero := time.Since(lastJob)
	waitNoPods(t, functions, 3*time.Minute, true)
	gone := time.Since(lastJob)
	stopSampling()
	series := <-samples
	t.Logf("after the last job ended: every function scaled to zero in %s, its last pod gone (drained) in %s",
		scaledToZero.Round(100*time.Millisecond), gone.Round(100*time.Millisecond))

	if len(failed) > 0 {
		t.Errorf("%d of %d jobs did not succeed: %v", len(failed), jobs, failed)
	}
	if n := dead.count() - before; n > 0 {
		t.Errorf("%d events dead-lettered during the burst", n)
	}
	var chart timechart.Chart
	chart.Title = fmt.Sprintf("Pods of each function during a burst of %d jobs (real node, Knative Serving)", jobs)
	chart.YLabel = "pods"
	chart.Lanes, chart.Height = true, 520
	limit := float64(maxScale)
	chart.Limit, chart.LimitLabel = &limit, "max-scale"
	for _, fn := range functions {
		peak := 0.0
		for _, p := range series[fn] {
			peak = max(peak, p.Value)
		}
		if peak > maxScale {
			t.Errorf("%s ran %v pods at once, max-scale is %d", fn, peak, maxScale)
		}
		t.Logf("%s: at most %v pods", fn, peak)
		chart.Series = append(chart.Series, timechart.Series{Name: fn, Points: series[fn], Steps: true})
	}
	t.Logf("%d jobs created in %s, all terminal %s after the first", jobs, created.Round(time.Millisecond), done.Round(time.Second))
	out, err := os.Create(filepath.Join(repoRoot, "docs", "e2e-burst-pods.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := chart.PNG(out); err != nil {
		t.Fatal(err)
	}
}

// samplePods counts, every 250 ms until ctx ends, the pods of each function that are not
// being deleted.
func samplePods(ctx context.Context, t *testing.T, start time.Time) map[string][]timechart.Point {
	series := map[string][]timechart.Point{}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		pods, err := kube(t).CoreV1().Pods(realcluster.FunctionsNamespace).List(context.Background(),
			metav1.ListOptions{LabelSelector: servingServiceLabel})
		if err == nil {
			at := time.Since(start)
			count := map[string]float64{}
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
					count[p.Labels[servingServiceLabel]]++
				}
			}
			for _, fn := range functions {
				series[fn] = append(series[fn], timechart.Point{At: at, Value: count[fn]})
			}
		}
		select {
		case <-ctx.Done():
			return series
		case <-tick.C:
		}
	}
}

// waitNoPods waits until no pod of any of fns is left; with terminating, not even one being
// deleted (a pod being deleted no longer gets requests: the next one still needs a new pod,
// while it drains for up to 30 s).
func waitNoPods(t *testing.T, fns []string, timeout time.Duration, terminating bool) {
	t.Helper()
	selector := fmt.Sprintf("%s in (%s)", servingServiceLabel, strings.Join(fns, ","))
	deadline := time.Now().Add(timeout)
	for {
		pods, err := kube(t).CoreV1().Pods(realcluster.FunctionsNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		left := slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return !terminating && p.DeletionTimestamp != nil })
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var names []string
			for _, p := range left {
				names = append(names, p.Name+" "+string(p.Status.Phase))
			}
			t.Fatalf("pods of %v still there after %s: %v", fns, timeout, names)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// podWatch records when the first pod of a function appeared and when one first became Ready.
type podWatch struct {
	w    watch.Interface
	done chan struct{}
	// added and ready are written by the watch's goroutine only, and read after done closes.
	added, ready time.Time
	seenReady    atomic.Bool
}

func watchPods(t *testing.T, function string) *podWatch {
	t.Helper()
	w, err := kube(t).CoreV1().Pods(realcluster.FunctionsNamespace).Watch(context.Background(),
		metav1.ListOptions{LabelSelector: servingServiceLabel + "=" + function})
	if err != nil {
		t.Fatal(err)
	}
	pw := &podWatch{w: w, done: make(chan struct{})}
	go func() {
		defer close(pw.done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.DeletionTimestamp != nil {
				continue // the pods of the last wake-up, draining
			}
			now := time.Now()
			if pw.added.IsZero() {
				pw.added = now
			}
			if pw.ready.IsZero() && slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
				return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
			}) {
				pw.ready = now
				pw.seenReady.Store(true)
			}
		}
	}()
	return pw
}

// stop ends the watch once a pod was Ready, or after wait, and returns what it saw.
func (pw *podWatch) stop(wait time.Duration) (added, ready time.Time) {
	deadline := time.After(wait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-pw.done:
			return pw.added, pw.ready
		case <-deadline:
			pw.w.Stop()
		case <-tick.C:
			if pw.seenReady.Load() {
				pw.w.Stop()
			}
		}
	}
}

// createJob creates the job of manifest through the API (no kubectl start-up in the timing)
// and returns the time just before the request.
func createJob(t *testing.T, manifest string) time.Time {
	t.Helper()
	var obj unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		t.Error(err)
		return time.Time{}
	}
	client := dynamic.NewForConfigOrDie(cluster.RESTConfig())
	at := time.Now()
	if _, err := client.Resource(jobsGVR).Namespace(obj.GetNamespace()).Create(context.Background(), &obj, metav1.CreateOptions{}); err != nil {
		t.Errorf("create job %s/%s: %v", obj.GetNamespace(), obj.GetName(), err)
	}
	return at
}

// awayFromPing waits, if needed, until the sweep's PingSource (every minute, on the minute)
// cannot answer a job created now before job-created does: a job the sweep answers first
// would time the sweep, not a cold start of job-created. The sweep's pass starts at :00 and
// its own cold start takes seconds, so jobs are created between :05 and :45.
func awayFromPing() {
	if sec := time.Now().Second(); sec < 5 || sec >= 45 {
		next := time.Now().Truncate(time.Minute).Add(5 * time.Second)
		if sec >= 45 {
			next = next.Add(time.Minute)
		}
		time.Sleep(time.Until(next))
	}
}

// waitFirstStatus watches a job until its status first has a phase and returns when it was
// seen.
func waitFirstStatus(t *testing.T, namespace, name string, timeout time.Duration) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := dynamic.NewForConfigOrDie(cluster.RESTConfig())
	w, err := client.Resource(jobsGVR).Namespace(namespace).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase != "" {
			return time.Now()
		}
	}
	t.Fatalf("job %s/%s: no status within %s", namespace, name, timeout)
	return time.Time{}
}

// waitAllTerminal waits until n jobs in namespace are Succeeded or Failed and returns the
// name, phase and message of each that did not succeed.
func waitAllTerminal(t *testing.T, namespace string, n int, timeout time.Duration) []string {
	t.Helper()
	client := dynamic.NewForConfigOrDie(cluster.RESTConfig())
	deadline := time.Now().Add(timeout)
	for {
		list, err := client.Resource(jobsGVR).Namespace(namespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		terminal, phases := 0, map[string]int{}
		var failed []string
		for _, u := range list.Items {
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			phases[phase]++
			switch phase {
			case v1alpha1.PhaseSucceeded:
				terminal++
			case v1alpha1.PhaseFailed:
				terminal++
				msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
				failed = append(failed, u.GetName()+": "+msg)
			}
		}
		if len(list.Items) == n && terminal == n {
			sort.Strings(failed)
			return failed
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d jobs by phase: %v", timeout, len(list.Items), phases)
		}
		time.Sleep(time.Second)
	}
}

func maxOf(ds []time.Duration) time.Duration { return slices.Max(ds).Round(time.Millisecond) }

func p50(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}
