package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/gitops"
	"github.com/mlops-dev/nbv/internal/gitopshooks"
	"github.com/mlops-dev/nbv/internal/local/serverapply"
	"github.com/mlops-dev/nbv/internal/local/yamldocs"
	"github.com/mlops-dev/nbv/internal/sweep"
)

var (
	inferenceServicesGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	applicationsGVR      = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
)

// hookTriggers is an on-success-trigger annotation in the existing operator's format naming
// the targets hookTargets creates.
const hookTriggers = `- apiVersion: apps/v1
  kind: Deployment
  name: model-server
  action: restart
- apiVersion: serving.kserve.io/v1beta1
  kind: InferenceService
  name: fraud
  action: restart
- apiVersion: argoproj.io/v1alpha1
  kind: Application
  name: ml-app
  action: sync
`

// applyGitOpsRBAC applies the opt-in config/rbac/gitops/ in the fixture's namespace, as a user
// who wants the hooks does, and waits until the authorizer allows it.
func (f *fixture) applyGitOpsRBAC() {
	f.t.Helper()
	for _, file := range []string{"wave.yaml", "triggers.yaml"} {
		docs, err := yamldocs.ReadFile(filepath.Join(repoRoot, "config", "rbac", "gitops", file))
		if err != nil {
			f.t.Fatal(err)
		}
		if err := serverapply.Objects(f.ctx, f.cp.RESTConfig(), docObjects(docs), serverapply.Options{FieldManager: "nbv", DefaultNamespace: f.ns}); err != nil {
			f.t.Fatal(err)
		}
	}
	for _, probe := range []authorizationv1.ResourceAttributes{
		{Namespace: f.ns, Verb: "patch", Group: "mlops.mlops.dev", Resource: "notebookvalidationjobs"},
		{Namespace: f.ns, Verb: "patch", Group: "argoproj.io", Resource: "applications"},
	} {
		deadline := time.Now().Add(10 * time.Second)
		for !allowed(f.ctx, f.kube, "nbv-job-created", probe) {
			if time.Now().After(deadline) {
				f.t.Fatalf("config/rbac/gitops applied in %s but %s %s still denied", f.ns, probe.Verb, probe.Resource)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// hookTargets creates the Deployment, InferenceService and Application hookTriggers names;
// the Application opts in to triggers from the fixture's namespace.
func (f *fixture) hookTargets() {
	f.t.Helper()
	labels := map[string]string{"app": "model-server"}
	one := int32(1)
	if _, err := f.kube.AppsV1().Deployments(f.ns).Create(f.ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "model-server"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: "registry.example.com/model-server:1"}}}}},
	}, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	dyn := f.dynamic()
	for _, o := range []struct {
		gvr  schema.GroupVersionResource
		obj  map[string]any
		kind string
	}{
		{inferenceServicesGVR, map[string]any{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": map[string]any{"name": "fraud"},
			"spec": map[string]any{"predictor": map[string]any{"model": map[string]any{"modelFormat": map[string]any{"name": "sklearn"}, "storageUri": "s3://models/fraud"}}}}, "InferenceService"},
		{applicationsGVR, argoApplication("ml-app", map[string]any{gitops.AnnotationTriggerNamespaces: "team-z," + f.ns}), "Application"},
	} {
		if _, err := dyn.Resource(o.gvr).Namespace(f.ns).Create(f.ctx, &unstructured.Unstructured{Object: o.obj}, metav1.CreateOptions{}); err != nil {
			f.t.Fatalf("create %s: %v", o.kind, err)
		}
	}
}

// argoApplication is an Argo CD Application named name with annotations.
func argoApplication(name string, annotations map[string]any) map[string]any {
	return map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": name, "annotations": annotations}, "spec": map[string]any{"project": "default"}}
}

// countWrites counts the MODIFIED events of one object until stop is called.
func (f *fixture) countWrites(gvr schema.GroupVersionResource, name string) (stop func() int) {
	f.t.Helper()
	w, err := f.dynamic().Resource(gvr).Namespace(f.ns).Watch(f.ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		f.t.Fatal(err)
	}
	n := make(chan int)
	go func() {
		count := 0
		for e := range w.ResultChan() {
			if e.Type == watch.Modified {
				count++
			}
		}
		n <- count
	}()
	return func() int {
		w.Stop()
		return <-n
	}
}

func hooksDone(j *v1alpha1.NotebookValidationJob) bool {
	return j.Status.GitOpsHooks != nil && j.Status.GitOpsHooks.State == v1alpha1.GitOpsHooksDone
}

// hooksDoneEvents counts the GitOpsHooksDone Events of job.
func (f *fixture) hooksDoneEvents(job *v1alpha1.NotebookValidationJob) int {
	f.t.Helper()
	list, err := f.kube.CoreV1().Events(f.ns).List(f.ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(job.UID) + ",reason=" + gitopshooks.ReasonHooksDone})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(list.Items)
}

// TestGitOpsHooksFireOnce: every event delivered five times, concurrently. A succeeded job
// carrying a sync wave gets mlops.dev/wave-complete and mlops.dev/completion-time (its
// status.completionTime), restarts its Deployment once (one new generation, restartedAt set),
// restarts its InferenceService's predictor and asks its Argo CD Application to refresh, each
// once; a failed job gets mlops.dev/wave-failed and fires no trigger. Status records it all.
func TestGitOpsHooksFireOnce(t *testing.T) {
	f := newFixture(t, 5)
	f.applyGitOpsRBAC()
	f.hookTargets()
	appWrites := f.countWrites(applicationsGVR, "ml-app")
	isvcWrites := f.countWrites(inferenceServicesGVR, "fraud")
	for name, wave := range map[string]string{"ok": "2", "bad": "3"} {
		f.createJob(name, func(j *v1alpha1.NotebookValidationJob) {
			j.Annotations = map[string]string{gitops.AnnotationSyncWave: wave, gitops.AnnotationOnSuccessTrigger: hookTriggers}
		})
	}
	ok := f.waitJob("ok", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	bad := f.waitJob("bad", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	f.completePod(ok.Status.ValidationPodName, 0, passedSummary())
	f.completePod(bad.Status.ValidationPodName, 1, failedSummary())
	ok = f.waitJob("ok", "Succeeded with its hooks done", hooksDone)
	bad = f.waitJob("bad", "Failed with its hooks done", hooksDone)
	time.Sleep(2 * time.Second) // let the duplicates of the last events arrive

	ok, bad = f.jobNow("ok"), f.jobNow("bad")
	at := ok.Status.CompletionTime.UTC().Format(time.RFC3339)
	if ok.Status.Phase != v1alpha1.PhaseSucceeded || ok.Annotations[gitops.AnnotationWaveComplete] != "2" ||
		ok.Annotations[gitops.AnnotationCompletionTime] != at || ok.Annotations[gitops.AnnotationWaveFailed] != "" {
		t.Errorf("succeeded job: phase %s annotations %v, want wave-complete=2 and completion-time=%s", ok.Status.Phase, ok.Annotations, at)
	}
	badAt := bad.Status.CompletionTime.UTC().Format(time.RFC3339)
	if bad.Status.Phase != v1alpha1.PhaseFailed || bad.Annotations[gitops.AnnotationWaveFailed] != "3" ||
		bad.Annotations[gitops.AnnotationCompletionTime] != badAt || bad.Annotations[gitops.AnnotationWaveComplete] != "" {
		t.Errorf("failed job: phase %s annotations %v, want wave-failed=3 and completion-time=%s", bad.Status.Phase, bad.Annotations, badAt)
	}
	h := ok.Status.GitOpsHooks
	if h.Wave != gitops.AnnotationWaveComplete+"=2" || len(h.Triggers) != 3 || h.Message != "" {
		t.Errorf("succeeded job's record: %+v", h)
	}
	for _, tr := range h.Triggers {
		if tr.Result != v1alpha1.TriggerFired {
			t.Errorf("trigger %s: %s %s, want Fired", tr.Target, tr.Result, tr.Message)
		}
	}
	if bh := bad.Status.GitOpsHooks; bh.Wave != gitops.AnnotationWaveFailed+"=3" || len(bh.Triggers) != 0 {
		t.Errorf("failed job's record: %+v, want its wave and no trigger", bh)
	}
	for _, job := range []*v1alpha1.NotebookValidationJob{ok, bad} {
		if n := f.hooksDoneEvents(job); n != 1 {
			t.Errorf("%s: %d %s Events, want 1", job.Name, n, gitopshooks.ReasonHooksDone)
		}
	}

	d, err := f.kube.AppsV1().Deployments(f.ns).Get(f.ctx, "model-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 2 || d.Spec.Template.Annotations[gitops.AnnotationRestartedAt] != at {
		t.Errorf("Deployment: generation %d restartedAt %q, want one restart (generation 2) at %s", d.Generation, d.Spec.Template.Annotations[gitops.AnnotationRestartedAt], at)
	}
	dyn := f.dynamic()
	isvc, err := dyn.Resource(inferenceServicesGVR).Namespace(f.ns).Get(f.ctx, "fraud", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restartedAt, _, _ := unstructured.NestedString(isvc.Object, "spec", "predictor", "annotations", gitops.AnnotationRestartedAt)
	if restartedAt != at || isvc.GetGeneration() != 2 {
		t.Errorf("InferenceService: generation %d predictor restartedAt %q, want one restart (generation 2) at %s", isvc.GetGeneration(), restartedAt, at)
	}
	app, err := dyn.Resource(applicationsGVR).Namespace(f.ns).Get(f.ctx, "ml-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if app.GetAnnotations()[gitops.AnnotationArgoCDRefresh] != "normal" {
		t.Errorf("Application annotations %v, want %s=normal", app.GetAnnotations(), gitops.AnnotationArgoCDRefresh)
	}
	if n := appWrites(); n != 1 {
		t.Errorf("Application written %d times, want once", n)
	}
	if n := isvcWrites(); n != 1 {
		t.Errorf("InferenceService written %d times, want once", n)
	}
}

// TestGitOpsTriggerWithoutRBACRecordsWhy: in a namespace that did not apply
// config/rbac/gitops/, a job asking for a wave annotation and a restart ends with both
// recorded as forbidden, the reason naming the opt-in, the Deployment untouched, and no
// further write however often its events arrive.
func TestGitOpsTriggerWithoutRBACRecordsWhy(t *testing.T) {
	f := newFixture(t, 5)
	f.hookTargets()
	f.createJob("denied", func(j *v1alpha1.NotebookValidationJob) {
		j.Annotations = map[string]string{gitops.AnnotationSyncWave: "1", gitops.AnnotationOnSuccessTrigger: hookTriggers}
	})
	job := f.waitJob("denied", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	f.completePod(job.Status.ValidationPodName, 0, passedSummary())
	job = f.waitJob("denied", "Succeeded with its hooks recorded", hooksDone)
	stop := f.watchWrites("denied")
	time.Sleep(3 * time.Second)
	if writes := stop(); len(writes) != 0 {
		t.Errorf("job written %d more times after its hooks were recorded: %v", len(writes), writes)
	}
	h := job.Status.GitOpsHooks
	if h.Wave != "" || !strings.Contains(h.Message, "forbidden") || !strings.Contains(h.Message, "config/rbac/gitops") {
		t.Errorf("record %+v: want no wave and a message naming the forbidden patch and the opt-in", h)
	}
	if job.Annotations[gitops.AnnotationWaveComplete] != "" {
		t.Errorf("job annotated %v without the opt-in RBAC", job.Annotations)
	}
	if len(h.Triggers) != 3 {
		t.Fatalf("triggers %+v, want 3", h.Triggers)
	}
	for _, tr := range h.Triggers {
		if tr.Result != v1alpha1.TriggerForbidden || !strings.Contains(tr.Message, "config/rbac/gitops") {
			t.Errorf("trigger %s: %s %q, want Forbidden naming the opt-in", tr.Target, tr.Result, tr.Message)
		}
	}
	d, err := f.kube.AppsV1().Deployments(f.ns).Get(f.ctx, "model-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Errorf("Deployment generation %d, want 1: restarted without permission", d.Generation)
	}
	if n := f.hooksDoneEvents(job); n != 1 {
		t.Errorf("%d %s Events, want 1", n, gitopshooks.ReasonHooksDone)
	}
}

// TestSweepPerformsHooksOfLostTerminalEvent: no job-created runs, so the event of the
// terminal write (made by the sweep from the finished pod) is lost. The sweep leaves the hooks
// to job-created for a minute, then performs them itself, once.
func TestSweepPerformsHooksOfLostTerminalEvent(t *testing.T) {
	f := newSweepFixture(t)
	f.applyGitOpsRBAC()
	f.hookTargets()
	f.createJob("lost", func(j *v1alpha1.NotebookValidationJob) {
		j.Annotations = map[string]string{gitops.AnnotationSyncWave: "4", gitops.AnnotationOnSuccessTrigger: hookTriggers}
	})
	f.seen("lost")
	f.seen("lost")
	f.completePod(f.get("lost").Status.ValidationPodName, 0, passedSummary())
	targets, err := dynamic.NewForConfig(f.functionConfig("sweep"))
	if err != nil {
		t.Fatal(err)
	}
	opts := sweep.Options{Hooks: &gitopshooks.Runner{Store: f.sweep, Targets: targets}}
	f.ping(opts)
	job := f.get("lost")
	if job.Status.Phase != v1alpha1.PhaseSucceeded || !gitops.Pending(job) {
		t.Fatalf("after one ping: %s hooks %+v, want Succeeded with hooks Pending", job.Status.Phase, job.Status.GitOpsHooks)
	}
	f.now = f.now.Add(2 * time.Minute)
	f.ping(opts)
	job = f.get("lost")
	at := job.Status.CompletionTime.UTC().Format(time.RFC3339)
	if !hooksDone(job) || job.Annotations[gitops.AnnotationWaveComplete] != "4" || job.Annotations[gitops.AnnotationCompletionTime] != at {
		t.Fatalf("after the grace: hooks %+v annotations %v", job.Status.GitOpsHooks, job.Annotations)
	}
	stop := f.watchWrites("lost")
	f.now = f.now.Add(time.Minute)
	f.ping(opts)
	time.Sleep(300 * time.Millisecond)
	if writes := stop(); len(writes) != 0 {
		t.Errorf("a later sweep wrote the job again: %v", writes)
	}
	d, err := f.kube.AppsV1().Deployments(f.ns).Get(f.ctx, "model-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 2 {
		t.Errorf("Deployment generation %d, want 2 (one restart)", d.Generation)
	}
}

// TestGitOpsApplicationOptIn: with config/rbac/gitops/ applied (patch on every Application of
// the namespace), a job's trigger refreshes only an Application whose
// mlops.mlops.dev/trigger-namespaces lists the job's namespace. One without the annotation,
// and one listing other namespaces, are recorded Refused with the reason, in status and in
// the GitOpsHooksDone Event, and never written.
func TestGitOpsApplicationOptIn(t *testing.T) {
	f := newFixture(t, 1)
	f.applyGitOpsRBAC()
	dyn := f.dynamic()
	for name, ann := range map[string]map[string]any{
		"opted-in":    {gitops.AnnotationTriggerNamespaces: f.ns},
		"closed":      nil,
		"other-teams": {gitops.AnnotationTriggerNamespaces: "team-b, team-c"},
	} {
		if _, err := dyn.Resource(applicationsGVR).Namespace(f.ns).Create(f.ctx, &unstructured.Unstructured{Object: argoApplication(name, ann)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	writes := map[string]func() int{}
	for _, name := range []string{"opted-in", "closed", "other-teams"} {
		writes[name] = f.countWrites(applicationsGVR, name)
	}
	f.createJob("trigger", func(j *v1alpha1.NotebookValidationJob) {
		j.Annotations = map[string]string{gitops.AnnotationOnSuccessTrigger: `
- {apiVersion: argoproj.io/v1alpha1, kind: Application, name: opted-in, action: refresh}
- {apiVersion: argoproj.io/v1alpha1, kind: Application, name: closed, action: sync}
- {apiVersion: argoproj.io/v1alpha1, kind: Application, name: other-teams, action: refresh}`}
	})
	job := f.waitJob("trigger", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	f.completePod(job.Status.ValidationPodName, 0, passedSummary())
	job = f.waitJob("trigger", "Succeeded with its hooks done", hooksDone)
	time.Sleep(time.Second) // let a wrong write, if any, reach the watches

	h := job.Status.GitOpsHooks
	want := []struct{ result, message string }{
		{v1alpha1.TriggerFired, ""},
		{v1alpha1.TriggerRefused, "does not opt in to triggers from namespace " + f.ns + ": it has no annotation " + gitops.AnnotationTriggerNamespaces},
		{v1alpha1.TriggerRefused, `it allows only "team-b, team-c" in its annotation ` + gitops.AnnotationTriggerNamespaces},
	}
	if len(h.Triggers) != len(want) {
		t.Fatalf("triggers %+v, want %d", h.Triggers, len(want))
	}
	for i, w := range want {
		if tr := h.Triggers[i]; tr.Result != w.result || !strings.Contains(tr.Message, w.message) {
			t.Errorf("trigger %s: %s %q, want %s with %q", tr.Target, tr.Result, tr.Message, w.result, w.message)
		}
	}
	for name, n := range map[string]int{"opted-in": 1, "closed": 0, "other-teams": 0} {
		if got := writes[name](); got != n {
			t.Errorf("Application %s written %d times, want %d", name, got, n)
		}
		app, err := dyn.Resource(applicationsGVR).Namespace(f.ns).Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if refreshed := app.GetAnnotations()[gitops.AnnotationArgoCDRefresh] == "normal"; refreshed != (n == 1) {
			t.Errorf("Application %s refreshed %t, want %t", name, refreshed, n == 1)
		}
	}
	events, err := f.kube.CoreV1().Events(f.ns).List(f.ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(job.UID) + ",reason=" + gitopshooks.ReasonHooksDone})
	if err != nil || len(events.Items) != 1 || !strings.Contains(events.Items[0].Message, "sync Application "+f.ns+"/closed: Refused") {
		t.Errorf("GitOpsHooksDone Events %+v (%v), want one naming the refused trigger", events, err)
	}
}
