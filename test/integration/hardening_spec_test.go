package integration

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
	"github.com/mlops-dev/nbv/internal/cisignature"
	"github.com/mlops-dev/nbv/internal/externalci"
	"github.com/mlops-dev/nbv/internal/functionenv"
	"github.com/mlops-dev/nbv/internal/jobcreated"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// TestCRDRefusesSpecsNoPodCouldRun: the specs of issue 9 that the API server would refuse as
// a Pod are refused when the job is created, with a message naming the field; the same fields
// with valid values are accepted.
func TestCRDRefusesSpecsNoPodCouldRun(t *testing.T) {
	cp := requireControlPlane(t)
	f := newBareFixture(t)
	ri := jobs(t, cp, f.ns)
	podConfig := func(field ...string) []string { return append([]string{"spec", "podConfig"}, field...) }
	for _, tc := range []struct {
		name  string
		path  []string
		value any
		field string // must appear in the error
	}{
		{"image-trailing-space", podConfig("containerImage"), "quay.io/x:latest ", "spec.podConfig.containerImage"},
		{"image-upper-case-path", podConfig("containerImage"), "quay.io/ML/train:1", "spec.podConfig.containerImage"},
		{"base-image", podConfig("buildConfig"), map[string]any{"enabled": true, "strategy": "tekton", "baseImage": "python 3.11"}, "spec.podConfig.buildConfig.baseImage"},
		{"env-name", podConfig("env"), []any{map[string]any{"name": "1 BAD=", "value": "x"}}, "spec.podConfig.env"},
		{"service-account", podConfig("serviceAccountName"), "Bad_SA!", "spec.podConfig.serviceAccountName"},
		{"cpu-request-above-limit", podConfig("resources"), map[string]any{"requests": map[string]any{"cpu": "2"}, "limits": map[string]any{"cpu": "1500m"}}, "spec.podConfig.resources"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := sampleJob(t, tc.name, f.ns)
			if err := unstructured.SetNestedField(job.Object, tc.value, tc.path...); err != nil {
				t.Fatal(err)
			}
			_, err := ri.Create(f.ctx, job, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create with %s = %v: want 422 Invalid, got %v", tc.field, tc.value, err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			t.Logf("refused: %v", err)
		})
	}

	ok := sampleJob(t, "valid-fields", f.ns)
	for path, value := range map[string]any{
		"containerImage":     "registry.example.com:5000/team-a/nb@sha256:" + strings.Repeat("0f", 32),
		"serviceAccountName": "notebook-runner.v2",
		"env":                []any{map[string]any{"name": "MY_VAR", "value": "1"}, map[string]any{"name": "my.var-2", "value": "2"}, map[string]any{"name": "_x"}},
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"},
			"limits":   map[string]any{"cpu": "1", "memory": "1024Mi"},
		},
	} {
		if err := unstructured.SetNestedField(ok.Object, value, podConfig(path)...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ri.Create(f.ctx, ok, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a job with valid image, env names, service account and requests within limits was refused: %v", err)
	}
}

// refusedOnce creates job name with mutate and waits until it failed: it must fail with
// reason in exactly one write after Initializing (no retry loop), its message carrying want,
// with no validation pod and a Warning Event of that reason.
func (f *fixture) refusedOnce(name, reason, want string, mutate func(*v1alpha1.NotebookValidationJob)) *v1alpha1.NotebookValidationJob {
	f.t.Helper()
	stop := f.watchWrites(name)
	f.createJob(name, mutate)
	job := f.waitJob(name, "Failed", phaseIs(v1alpha1.PhaseFailed))
	// Let redeliveries land before counting: a loop would write again or 5xx into a dead letter.
	time.Sleep(time.Second)
	if writes, want := stop(), []string{v1alpha1.PhaseInitializing, v1alpha1.PhaseFailed}; strings.Join(writes, ",") != strings.Join(want, ",") {
		f.t.Errorf("job %s writes = %v, want %v", name, writes, want)
	}
	if cond := findCondition(job, v1alpha1.ConditionReady); cond == nil || cond.Reason != reason {
		f.t.Errorf("job %s Ready = %+v, want reason %s", name, cond, reason)
	}
	if !strings.Contains(job.Status.Message, want) {
		f.t.Errorf("job %s message %q does not carry the API server's words %q", name, job.Status.Message, want)
	}
	if pods := f.podsOf(name); len(pods) != 0 {
		f.t.Errorf("job %s has pods %v, want none", name, podNames(pods))
	}
	f.expectEvents(job, reason)
	return job
}

// TestAPIRefusedPodFailsTheJobOnce: specs the CRD accepts but the API server refuses as a Pod
// (validation: a node selector key that is no label key; admission: a hostPath volume in a
// namespace enforcing Pod Security "baseline") fail the job PodRejected in one write.
func TestAPIRefusedPodFailsTheJobOnce(t *testing.T) {
	f := newFixture(t, 1)
	f.refusedOnce("bad-selector", statemachine.ReasonPodRejected, `spec.nodeSelector: Invalid value: "bad key!"`, func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.NodeSelector = map[string]string{"bad key!": "x"}
	})

	baseline := `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"baseline"}}}`
	if _, err := f.kube.CoreV1().Namespaces().Patch(f.ctx, f.ns, types.MergePatchType, []byte(baseline), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refusedOnce("host-path", statemachine.ReasonPodRejected, `violates PodSecurity "baseline:latest": hostPath volumes`, func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
	})

	// A correct job in the same namespace still runs: the validation pod itself meets the policy.
	f.createJob("fine", nil)
	job := f.waitJob("fine", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	f.completePod(job.Status.ValidationPodName, 0, passedSummary())
	f.waitJob("fine", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
}

// TestInvalidImageReachingThePodFailsTheJobOnce: an image that still reaches pod creation (a
// build recorded before the CRD checked images) fails the job PodRejected, not a retry loop.
func TestInvalidImageReachingThePodFailsTheJobOnce(t *testing.T) {
	f := newFixture(t, 1)
	f.createJob("old-build", buildWith(v1alpha1.BuildStrategyExternal))
	job := f.waitJob("old-build", "Building", phaseIs(v1alpha1.PhaseBuilding))
	stop := f.watchWrites("old-build")
	st := job.Status.DeepCopy()
	st.Phase = v1alpha1.PhaseBuildComplete
	st.BuildStatus.Phase, st.BuildStatus.ImageReference = v1alpha1.BuildPhaseComplete, " registry.example.com/ml/train:1"
	if _, err := f.store.PatchStatus(f.ctx, job, *st); err != nil {
		t.Fatal(err)
	}
	job = f.waitJob("old-build", "Failed", phaseIs(v1alpha1.PhaseFailed))
	time.Sleep(time.Second)
	if writes, want := stop(), []string{v1alpha1.PhaseBuildComplete, v1alpha1.PhaseFailed}; strings.Join(writes, ",") != strings.Join(want, ",") {
		t.Errorf("writes = %v, want %v", writes, want)
	}
	if cond := findCondition(job, v1alpha1.ConditionReady); cond == nil || cond.Reason != statemachine.ReasonPodRejected ||
		!strings.Contains(job.Status.Message, "spec.containers[0].image") {
		t.Errorf("Ready = %+v, message %q: want PodRejected naming spec.containers[0].image", cond, job.Status.Message)
	}
}

// TestAPIRefusedBuildFailsTheJobOnce: a PipelineRun the API server refuses fails the job
// BuildRejected in one write. Tekton's admission webhook does not run here; a
// ValidatingAdmissionPolicy enforces one of its rules (parameter names) in its place.
func TestAPIRefusedBuildFailsTheJobOnce(t *testing.T) {
	f := newFixture(t, 1)
	f.denyBadTektonParamNames()
	job := f.refusedOnce("bad-param", statemachine.ReasonBuildRejected, "parameter names must begin with a letter", func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: v1alpha1.BuildStrategyTekton,
			StrategyConfig: map[string]string{"pipelineRef": "team-build", "param.1 bad!": "x"}}
	})
	if bs := job.Status.BuildStatus; bs == nil || bs.Phase != v1alpha1.BuildPhaseFailed || bs.Reason != statemachine.ReasonBuildRejected {
		t.Errorf("buildStatus %+v, want Failed with reason %s", bs, statemachine.ReasonBuildRejected)
	}
	if _, err := f.dynamic().Resource(childapi.PipelineRuns.GVR).Namespace(f.ns).Get(f.ctx, statemachine.BuildName(job), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("PipelineRun after the refusal: %v, want none", err)
	}
}

// denyBadTektonParamNames installs, for the fixture's namespace, a ValidatingAdmissionPolicy
// refusing PipelineRuns whose parameter names Tekton's webhook would refuse, and waits until
// the API server enforces it.
func (f *fixture) denyBadTektonParamNames() {
	f.t.Helper()
	name := "nbv-test-tekton-params-" + f.ns
	fail := admissionregistrationv1.Fail
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"tekton.dev"}, APIVersions: []string{"v1"}, Resources: []string{"pipelineruns"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: `!has(object.spec.params) || object.spec.params.all(p, p.name.matches('^[a-zA-Z_][-a-zA-Z0-9_.]*$'))`,
				Message:    "spec.params: parameter names must begin with a letter or an underscore and hold only letters, digits, '_', '-' and '.'",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: f.ns}}},
		},
	}
	policies := f.kube.AdmissionregistrationV1()
	if _, err := policies.ValidatingAdmissionPolicies().Create(f.ctx, policy, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := policies.ValidatingAdmissionPolicyBindings().Create(f.ctx, binding, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		_ = policies.ValidatingAdmissionPolicyBindings().Delete(f.ctx, name, metav1.DeleteOptions{})
		_ = policies.ValidatingAdmissionPolicies().Delete(f.ctx, name, metav1.DeleteOptions{})
	})
	probe := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": childapi.PipelineRuns.APIVersion(), "kind": childapi.PipelineRuns.Kind,
		"metadata": map[string]any{"name": "probe", "namespace": f.ns},
		"spec":     map[string]any{"pipelineRef": map[string]any{"name": "x"}, "params": []any{map[string]any{"name": "1 bad!", "value": "x"}}},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := f.dynamic().Resource(childapi.PipelineRuns.GVR).Namespace(f.ns).Create(f.ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsInvalid(err) {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the admission policy is not enforced after 30s: a bad PipelineRun got %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRecreatedJobDoesNotMeetTheOldPod: a job deleted while its pod still exists (the
// garbage collector has not caught up) and created again under the same name gets its own
// pod, ignores events about the old one, and succeeds.
func TestRecreatedJobDoesNotMeetTheOldPod(t *testing.T) {
	f := newFixture(t, 1)
	first := f.createJob("again", nil)
	first = f.waitJob("again", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	old := first.Status.ValidationPodName
	// Hold the old pod, whether or not a garbage collector runs.
	hold := []byte(`{"metadata":{"finalizers":["mlops.mlops.dev/test-hold"]}}`)
	if _, err := f.kube.CoreV1().Pods(f.ns).Patch(f.ctx, old, types.MergePatchType, hold, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		release := []byte(`{"metadata":{"finalizers":null}}`)
		_, _ = f.kube.CoreV1().Pods(f.ns).Patch(f.ctx, old, types.MergePatchType, release, metav1.PatchOptions{})
	})
	if err := f.jobsClient().Delete(f.ctx, "again", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.store.Get(f.ctx, f.ns, "again"); apierrors.IsNotFound(err) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	second := f.createJob("again", nil)
	second = f.waitJob("again", "ValidationRunning", func(j *v1alpha1.NotebookValidationJob) bool {
		return j.Status.Phase != v1alpha1.PhaseInitializing && j.Status.Phase != ""
	})
	if second.Status.Phase != v1alpha1.PhaseValidationRunning || second.Status.ValidationPodName == old {
		t.Fatalf("re-created job: phase %s pod %s (%s), want ValidationRunning in a pod other than %s",
			second.Status.Phase, second.Status.ValidationPodName, second.Status.Message, old)
	}
	if _, err := f.kube.CoreV1().Pods(f.ns).Get(f.ctx, old, metav1.GetOptions{}); err != nil {
		t.Fatalf("the old pod is gone (%v): the test did not exercise the collision", err)
	}
	// An event about the old pod is about another job: nothing to do, and not bad input.
	stale := resourceEvent(f.ns, "v1", "Pod", old, "again")
	if status := postEvent(t, f.stack.FunctionURLs["pod-completed"], stale); status != http.StatusAccepted {
		t.Errorf("pod-completed answered %d to an event about the old job's pod, want 202", status)
	}
	f.completePod(second.Status.ValidationPodName, 0, passedSummary())
	f.waitJob("again", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
}

// TestPodAtTheChildNameFailsChildNameTaken: a pod someone else created at the name of the
// job's validation pod fails the job ChildNameTaken, naming the pod and its controller, in one
// write. job-created runs in this process so the pod can be put in place between the job's
// creation (its UID is in the name) and the function's first look at it.
func TestPodAtTheChildNameFailsChildNameTaken(t *testing.T) {
	f := newBareFixture(t)
	job := f.createJob("squatted", nil)
	name := statemachine.PodName(job, 0)
	squatter := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns, Labels: map[string]string{v1alpha1.LabelJob: "squatted"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example.com/squatter:1"}}},
	}
	if _, err := f.kube.CoreV1().Pods(f.ns).Create(f.ctx, squatter, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop := f.watchWrites("squatted")
	settings := functionenv.Settings{Kube: f.cp.RESTConfig(), Pod: validationpod.Options{RunnerImage: testRunnerImage}}
	x, _, err := functionenv.NewExecutor("job-created", settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := jobcreated.Handler(x)
	ev := resourceEvent(f.ns, v1alpha1.SchemeGroupVersion.String(), v1alpha1.Kind, "squatted", "")
	for range 3 { // "" -> Initializing, Initializing -> Failed, then nothing
		if _, err := h(f.ctx, ev); err != nil {
			t.Fatalf("job-created: %v", err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if writes, want := stop(), []string{v1alpha1.PhaseInitializing, v1alpha1.PhaseFailed}; strings.Join(writes, ",") != strings.Join(want, ",") {
		t.Errorf("writes = %v, want %v", writes, want)
	}
	job = f.jobNow("squatted")
	if cond := findCondition(job, v1alpha1.ConditionReady); job.Status.Phase != v1alpha1.PhaseFailed || cond == nil || cond.Reason != statemachine.ReasonChildNameTaken {
		t.Fatalf("phase %s Ready %+v, want Failed with reason %s", job.Status.Phase, cond, statemachine.ReasonChildNameTaken)
	}
	for _, words := range []string{"Pod " + f.ns + "/" + name, "its controller is none"} {
		if !strings.Contains(job.Status.Message, words) {
			t.Errorf("message %q does not say %q", job.Status.Message, words)
		}
	}
	if pod, err := f.kube.CoreV1().Pods(f.ns).Get(f.ctx, name, metav1.GetOptions{}); err != nil || pod.Spec.Containers[0].Image != "registry.example.com/squatter:1" {
		t.Errorf("the squatting pod was changed or removed: %v", err)
	}
}

// TestCIReportWithInvalidImageIsRefused: a signed external-CI report whose image is not an
// image reference is a 400 naming the field, and the job does not move; the same report with
// a valid image is then accepted.
func TestCIReportWithInvalidImageIsRefused(t *testing.T) {
	f := newBareFixture(t)
	url := f.serveCIRoute()
	f.setCIKey(f.ns, ciKeyA)
	f.createJob("ext", buildWith(v1alpha1.BuildStrategyExternal))
	before := f.advance("ext", v1alpha1.PhaseBuilding)

	now := time.Now()
	req := ciRequest(t, url, ciReport(f.ns, "ext"), "bad-image", externalci.Structured, ciKeyA, now)
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	// ciRequest checks the report against its schema: the bad image goes in after it, signed.
	body = bytes.Replace(body, []byte(`"image":"registry.example.com/ml/train:42"`), []byte(`"image":"registry.example.com/ml/train:42 "`), 1)
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header.Set(cisignature.Header, cisignature.Sign(body, ciKeyA, now))
	status, msg := send(t, req)
	if status != http.StatusBadRequest || !strings.Contains(msg, "image") {
		t.Errorf("report with image %q: %d %q, want 400 naming the image", "registry.example.com/ml/train:42 ", status, msg)
	}
	if after := f.jobNow("ext"); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the refused report wrote the job: resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion)
	}

	good := ciRequest(t, url, ciReport(f.ns, "ext"), "good-image", externalci.Structured, ciKeyA, now)
	if status, msg := send(t, good); status != http.StatusOK {
		t.Fatalf("valid report: %d %q, want 200", status, msg)
	}
	if after := f.jobNow("ext"); after.Status.Phase != v1alpha1.PhaseBuildComplete {
		t.Errorf("after a valid report the job is %s, want BuildComplete", after.Status.Phase)
	}
}

// TestBuildEventsNotAboutTheJobsChildAreIgnored: build-status-changed compares the child an
// event names with the job's own child, read fresh: a re-run from the BuildConfig and the
// build of an earlier job of the same name are answered 202 and change nothing.
func TestBuildEventsNotAboutTheJobsChildAreIgnored(t *testing.T) {
	f := newFixture(t, 1)
	bs := buildSystems[0]
	job := f.startBuild(bs, "rebuilt")
	earlier := job.DeepCopy()
	earlier.UID = "an-earlier-incarnation"
	url := f.stack.FunctionURLs["build-status-changed"]
	for _, name := range []string{statemachine.BuildName(job) + "-2", statemachine.BuildName(earlier)} {
		ev := resourceEvent(f.ns, bs.child.APIVersion(), bs.child.Kind, name, "rebuilt")
		if status := postEvent(t, url, ev); status != http.StatusAccepted {
			t.Errorf("event about %s %s answered %d, want 202 (not the job's child)", bs.child.Kind, name, status)
		}
	}
	if after := f.jobNow("rebuilt"); after.ResourceVersion != job.ResourceVersion {
		t.Errorf("events about other builds wrote the job: resourceVersion %s -> %s", job.ResourceVersion, after.ResourceVersion)
	}
}
