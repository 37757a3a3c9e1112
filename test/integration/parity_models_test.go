package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/modelready"
	"github.com/mlops-dev/nbv/internal/statemachine"
	"github.com/mlops-dev/nbv/internal/sweep"
	"github.com/mlops-dev/nbv/internal/validationpod"
)

// modelSampleSpec is config/samples/model-validation-kserve.yaml's spec (platform kserve,
// target sklearn-iris, prediction validation, timeout 5m).
func modelSampleSpec(t *testing.T) v1alpha1.NotebookValidationJobSpec {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "model-validation-kserve.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var job v1alpha1.NotebookValidationJob
	if err := yaml.UnmarshalStrict(raw, &job); err != nil {
		t.Fatal(err)
	}
	return job.Spec
}

// waitsForModel reports whether the job waits in Initializing with ModelsReady=False naming model.
func waitsForModel(model string) func(*v1alpha1.NotebookValidationJob) bool {
	return func(j *v1alpha1.NotebookValidationJob) bool {
		c := findCondition(j, statemachine.ConditionModelsReady)
		return j.Status.Phase == v1alpha1.PhaseInitializing && c != nil && c.Status == metav1.ConditionFalse &&
			c.Reason == statemachine.ReasonModelsNotReady && strings.Contains(c.Message, model) && strings.Contains(j.Status.Message, model)
	}
}

// notebookEnv is the notebook container's env of the job's one validation pod.
func (f *fixture) notebookEnv(job string) map[string]string {
	f.t.Helper()
	pods := f.podsOf(job)
	if len(pods) != 1 {
		f.t.Fatalf("job %s has pods %v, want one", job, podNames(pods))
	}
	env := map[string]string{}
	for _, c := range pods[0].Spec.Containers {
		if c.Name != validationpod.NotebookContainer {
			continue
		}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
	}
	return env
}

// stayInitializing checks, for a while, that the job neither moves on nor gets a pod.
func (f *fixture) stayInitializing(job string, d time.Duration) {
	f.t.Helper()
	time.Sleep(d)
	got, err := f.store.Get(f.ctx, f.ns, job)
	if err != nil {
		f.t.Fatal(err)
	}
	if got.Status.Phase != v1alpha1.PhaseInitializing || len(f.podsOf(job)) != 0 {
		f.t.Fatalf("job %s left Initializing (phase %q, pods %v) before its model was ready", job, got.Status.Phase, podNames(f.podsOf(job)))
	}
}

// TestModelValidationWaitsForInferenceService: the KServe sample waits in Initializing with
// ModelsReady=False while its InferenceService is not Ready (first absent, then Ready=False),
// and starts, its pod carrying the MODEL_VALIDATION_* contract, when the test (playing KServe)
// writes Ready=True into the InferenceService's status: the InferenceService's own event wakes
// job-created, nothing polls.
func TestModelValidationWaitsForInferenceService(t *testing.T) {
	f := newFixture(t, 1)
	dyn, err := dynamic.NewForConfig(f.cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	isvcs := dyn.Resource(modelready.InferenceServices).Namespace(f.ns)

	spec := modelSampleSpec(t)
	f.createJob("kserve", func(j *v1alpha1.NotebookValidationJob) { j.Spec = spec })
	job := f.waitJob("kserve", "waiting for the absent sklearn-iris", waitsForModel("sklearn-iris"))
	if !strings.Contains(job.Status.Message, "not found") {
		t.Errorf("message %q, want it to say the InferenceService is not found", job.Status.Message)
	}

	isvc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
		"metadata": map[string]any{"name": "sklearn-iris"},
		"spec":     map[string]any{"predictor": map[string]any{"model": map[string]any{"modelFormat": map[string]any{"name": "sklearn"}}}},
	}}
	created, err := isvcs.Create(f.ctx, isvc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setISVCReady := func(status string) {
		t.Helper()
		obj, err := isvcs.Get(f.ctx, created.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedSlice(obj.Object, []any{map[string]any{
			"type": "Ready", "status": status, "reason": "PredictorNotReady" + status, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}, "status", "conditions")
		if _, err := isvcs.UpdateStatus(f.ctx, obj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// An InferenceService that is not Ready starts nothing (its events cost no API call).
	setISVCReady("False")
	f.stayInitializing("kserve", time.Second)

	setISVCReady("True")
	job = f.waitJob("kserve", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	if c := findCondition(job, statemachine.ConditionModelsReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("ModelsReady = %+v, want True", c)
	}
	r := job.Status.ModelValidationResult
	if r == nil || !r.Success || !r.PlatformDetected || r.Platform != "kserve" || r.ExistingEnvironmentCheck == nil ||
		len(r.ExistingEnvironmentCheck.ModelsChecked) != 1 || !r.ExistingEnvironmentCheck.ModelsChecked[0].Healthy {
		t.Errorf("modelValidationResult %+v, want the one model checked healthy", r)
	}

	env := f.notebookEnv("kserve")
	want := map[string]string{
		"MODEL_VALIDATION_ENABLED":                    "true",
		"MODEL_VALIDATION_PLATFORM":                   "kserve",
		"MODEL_VALIDATION_NAMESPACE":                  f.ns,
		"MODEL_VALIDATION_PHASE":                      "existing",
		"MODEL_VALIDATION_TARGET_MODELS":              f.ns + "/sklearn-iris",
		"MODEL_VALIDATION_TARGET_MODELS_ORIGINAL":     "sklearn-iris",
		"MODEL_VALIDATION_TARGET_NAMESPACES":          f.ns,
		"MODEL_VALIDATION_PREDICTION_ENABLED":         "true",
		"MODEL_VALIDATION_PREDICTION_TEST_DATA":       spec.ModelValidation.PredictionValidation.TestData,
		"MODEL_VALIDATION_PREDICTION_EXPECTED_OUTPUT": spec.ModelValidation.PredictionValidation.ExpectedOutput,
		"MODEL_VALIDATION_PREDICTION_TOLERANCE":       "0.01",
		"MODEL_VALIDATION_TIMEOUT":                    "5m",
	}
	for name, value := range want {
		if got, ok := env[name]; !ok || got != value {
			t.Errorf("pod env %s = %q (set %v), want %q", name, got, ok, value)
		}
	}
	f.completePod(job.Status.ValidationPodName, 0, passedSummary())
	f.waitJob("kserve", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
}

// TestModelValidationWaitsForDeployment: a vLLM target is the Deployment of that name; the job
// waits while it has no available replica and starts when the test (playing the deployment
// controller) reports one.
func TestModelValidationWaitsForDeployment(t *testing.T) {
	f := newFixture(t, 1)
	one := int32(1)
	labels := map[string]string{"app": "llm"}
	dep, err := f.kube.AppsV1().Deployments(f.ns).Create(f.ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "llm"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "vllm", Image: "vllm/vllm-openai:v0.6.0"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	on := true
	f.createJob("vllm", func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.ModelValidation = &v1alpha1.ModelValidationSpec{Enabled: &on, Platform: "vllm", TargetModels: []string{"llm"}, Timeout: "5m"}
	})
	job := f.waitJob("vllm", "waiting for Deployment llm", waitsForModel("llm"))
	if !strings.Contains(job.Status.Message, "0 of 1 replicas available") {
		t.Errorf("message %q, want the available replicas", job.Status.Message)
	}
	f.stayInitializing("vllm", time.Second)

	dep.Status = appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1, ObservedGeneration: dep.Generation}
	if _, err := f.kube.AppsV1().Deployments(f.ns).UpdateStatus(f.ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitJob("vllm", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	if env := f.notebookEnv("vllm"); env["MODEL_VALIDATION_PLATFORM"] != "vllm" || env["MODEL_VALIDATION_TARGET_MODELS"] != f.ns+"/llm" {
		t.Errorf("pod env platform %q targets %q", env["MODEL_VALIDATION_PLATFORM"], env["MODEL_VALIDATION_TARGET_MODELS"])
	}
}

// TestModelValidationProceedsWithoutPlatform: a platform whose API the cluster does not serve
// (Seldon; a custom group) does not hold the job: it starts at once, the reason recorded in
// status.modelValidationResult, as the existing operator does.
func TestModelValidationProceedsWithoutPlatform(t *testing.T) {
	f := newFixture(t, 1)
	on := true
	f.createJob("seldon", func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.ModelValidation = &v1alpha1.ModelValidationSpec{Enabled: &on, Platform: "seldon", TargetModels: []string{"fraud"}}
	})
	f.createJob("custom", func(j *v1alpha1.NotebookValidationJob) {
		j.Spec.ModelValidation = &v1alpha1.ModelValidationSpec{Enabled: &on, Platform: "custom", TargetModels: []string{"fraud"},
			CustomPlatform: &v1alpha1.CustomPlatformSpec{APIGroup: "models.example.com", ResourceType: "models", HealthCheckEndpoint: "/v1/health"}}
	})
	for name, why := range map[string]string{
		"seldon": "API group machinelearning.seldon.io is not served",
		"custom": "API group models.example.com is not served",
	} {
		job := f.waitJob(name, "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
		r := job.Status.ModelValidationResult
		if r == nil || r.PlatformDetected || r.Success || !strings.Contains(r.Message, "not available in cluster") || !strings.Contains(r.Message, why) {
			t.Errorf("%s: modelValidationResult %+v, want the platform reported missing (%s)", name, r, why)
		}
	}
	if env := f.notebookEnv("custom"); env["MODEL_VALIDATION_CUSTOM_HEALTH_ENDPOINT"] != "/v1/health" || env["MODEL_VALIDATION_CUSTOM_API_GROUP"] != "models.example.com" {
		t.Errorf("custom pod env %v, want the CUSTOM_* variables", env)
	}
}

// TestModelValidationRefusesOtherNamespaces: a target in another namespace is refused with the
// existing operator's message, read from no namespace, and the job proceeds without it.
func TestModelValidationRefusesOtherNamespaces(t *testing.T) {
	f := newFixture(t, 1)
	spec := modelSampleSpec(t)
	spec.ModelValidation.TargetModels = []string{"other-team/fraud"}
	f.createJob("cross", func(j *v1alpha1.NotebookValidationJob) { j.Spec = spec })
	job := f.waitJob("cross", "ValidationRunning", phaseIs(v1alpha1.PhaseValidationRunning))
	r := job.Status.ModelValidationResult
	want := `cross-namespace model access is not allowed: model "fraud" is in namespace "other-team" but job is in namespace "` + f.ns + `"`
	if r == nil || r.Success || !strings.Contains(r.Message, want) {
		t.Errorf("modelValidationResult %+v, want the refusal %q", r, want)
	}
	if env := f.notebookEnv("cross"); env["MODEL_VALIDATION_TARGET_MODELS"] != "" || env["MODEL_VALIDATION_TARGET_MODELS_ORIGINAL"] != "other-team/fraud" {
		t.Errorf("pod env targets %q original %q, want none resolved", env["MODEL_VALIDATION_TARGET_MODELS"], env["MODEL_VALIDATION_TARGET_MODELS_ORIGINAL"])
	}
}

// TestSweepEndsTheWaitForModels: nothing but the sweep enforces modelValidation.timeout. Within
// it a waiting job is left alone (the sweep reads no model); past it the job starts without
// its model, status.modelValidationResult saying it was not ready in time.
func TestSweepEndsTheWaitForModels(t *testing.T) {
	f := newSweepFixture(t)
	f.createJob("waiting", func(j *v1alpha1.NotebookValidationJob) { j.Spec = modelSampleSpec(t) })
	f.seen("waiting") // "" -> Initializing
	x, _ := f.executor("job-created")
	models, err := modelready.New(f.functionConfig("job-created"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Run(f.ctx, f.ns, "waiting", func(ctx context.Context, job *v1alpha1.NotebookValidationJob) (statemachine.Observation, error) {
		check, err := models.Check(ctx, job)
		if err != nil {
			return statemachine.Observation{}, err
		}
		return statemachine.Observation{Kind: statemachine.JobSeen, Models: check, Message: check.Message}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if job := f.get("waiting"); !waitsForModel("sklearn-iris")(job) {
		t.Fatalf("job-created left %q %+v, want it waiting for sklearn-iris", job.Status.Phase, job.Status.Conditions)
	}

	f.now = f.now.Add(4 * time.Minute)
	f.ping(sweep.Options{})
	if job := f.get("waiting"); job.Status.Phase != v1alpha1.PhaseInitializing || len(f.podsOf("waiting")) != 0 {
		t.Fatalf("within modelValidation.timeout the sweep moved the job to %q", job.Status.Phase)
	}

	f.now = f.now.Add(time.Minute + time.Second)
	f.ping(sweep.Options{})
	job := f.get("waiting")
	if job.Status.Phase != v1alpha1.PhaseValidationRunning || len(f.podsOf("waiting")) != 1 {
		t.Fatalf("past modelValidation.timeout: %q with pods %v, want ValidationRunning with its pod", job.Status.Phase, podNames(f.podsOf("waiting")))
	}
	r := job.Status.ModelValidationResult
	if r == nil || r.Success || !strings.Contains(r.Message, "not ready within modelValidation.timeout 5m0s") || !strings.Contains(r.Message, "sklearn-iris") {
		t.Errorf("modelValidationResult %+v, want why the job proceeded", r)
	}
	if c := findCondition(job, statemachine.ConditionModelsReady); c == nil || c.Reason != statemachine.ReasonModelsTimedOut {
		t.Errorf("ModelsReady %+v, want reason %s", c, statemachine.ReasonModelsTimedOut)
	}
}
