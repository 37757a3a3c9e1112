// Package modelspec reads spec.modelValidation the way the existing operator does, with no
// I/O: whether it is on, which target models it names (a name in the job's namespace, or
// "namespace/name", refused when the namespace is another), how long to wait for them, and
// the MODEL_VALIDATION_* environment the validation pod passes to the notebook. The state
// machine, the pod builder and the readiness reader (internal/modelready) share it so that
// they never disagree on a target.
package modelspec

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// Platforms, as spec.modelValidation.platform spells them.
const (
	PlatformKServe            = "kserve"
	PlatformOpenShiftAI       = "openshift-ai"
	PlatformVLLM              = "vllm"
	PlatformTorchServe        = "torchserve"
	PlatformTensorFlowServing = "tensorflow-serving"
	PlatformTriton            = "triton"
	PlatformRayServe          = "ray-serve"
	PlatformSeldon            = "seldon"
	PlatformBentoML           = "bentoml"
	PlatformCustom            = "custom"
)

// DefaultTimeout is modelValidation.timeout when empty or unparsable (the CRD's default).
const DefaultTimeout = 5 * time.Minute

// DefaultPhase is modelValidation.phase when empty (the CRD's default).
const DefaultPhase = "both"

// MaxTargets bounds the target models read per check; the rest are reported, not read.
const MaxTargets = 20

// Enabled reports whether the job asks for model validation. As in the existing operator, an
// absent enabled field means off (the API server defaults it to true when modelValidation is
// given at all).
func Enabled(job *v1alpha1.NotebookValidationJob) bool {
	mv := job.Spec.ModelValidation
	return mv != nil && mv.Enabled != nil && *mv.Enabled
}

// Platform is spec.modelValidation.platform, "kserve" when empty (the CRD's default).
func Platform(job *v1alpha1.NotebookValidationJob) string {
	if mv := job.Spec.ModelValidation; mv != nil && mv.Platform != "" {
		return mv.Platform
	}
	return PlatformKServe
}

// Phase is spec.modelValidation.phase, "both" when empty.
func Phase(job *v1alpha1.NotebookValidationJob) string {
	if mv := job.Spec.ModelValidation; mv != nil && mv.Phase != "" {
		return mv.Phase
	}
	return DefaultPhase
}

// Timeout is how long a job waits for its target models before it proceeds without them.
func Timeout(job *v1alpha1.NotebookValidationJob) time.Duration {
	if mv := job.Spec.ModelValidation; mv != nil {
		if d, err := time.ParseDuration(mv.Timeout); err == nil && d > 0 {
			return d
		}
	}
	return DefaultTimeout
}

// Target is one resolved target model.
type Target struct {
	Namespace, Name string
}

// String is "namespace/name", the form of MODEL_VALIDATION_TARGET_MODELS.
func (t Target) String() string { return t.Namespace + "/" + t.Name }

// Targets resolves spec.modelValidation.targetModels in the job's namespace, in spec order,
// duplicates once. A reference that is malformed or names another namespace is refused: the
// message says why, in the existing operator's words.
func Targets(job *v1alpha1.NotebookValidationJob) (targets []Target, refused []string) {
	mv := job.Spec.ModelValidation
	if mv == nil {
		return nil, nil
	}
	seen := map[Target]bool{}
	for _, ref := range mv.TargetModels {
		t, err := resolve(ref, job.Namespace)
		if err != nil {
			refused = append(refused, err.Error())
			continue
		}
		if !seen[t] {
			seen[t] = true
			targets = append(targets, t)
		}
	}
	return targets, refused
}

func resolve(ref, namespace string) (Target, error) {
	if ref == "" {
		return Target{}, fmt.Errorf("model reference cannot be empty")
	}
	ns, name, qualified := strings.Cut(ref, "/")
	if !qualified {
		ns, name = namespace, ref
	} else if ns == "" || name == "" || strings.Contains(name, "/") {
		return Target{}, fmt.Errorf("invalid model reference format: %q (expected 'namespace/model' or 'model')", ref)
	}
	if ns != namespace {
		return Target{}, fmt.Errorf("cross-namespace model access is not allowed: model %q is in namespace %q but job is in namespace %q", name, ns, namespace)
	}
	// Model objects (InferenceServices, Deployments, custom resources) are named like this; any
	// other name could only be looked up in vain until the timeout.
	if problems := validation.IsDNS1123Subdomain(name); len(problems) > 0 {
		return Target{}, fmt.Errorf("invalid model name %q: %s", name, strings.Join(problems, "; "))
	}
	return Target{Namespace: ns, Name: name}, nil
}

// Names returns the targets' names in the job's namespace: what a model object's event is
// matched against.
func Names(job *v1alpha1.NotebookValidationJob) []string {
	targets, _ := Targets(job)
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	return names
}

// Env is the MODEL_VALIDATION_* environment of the existing operator, same names and value
// formats, or nil when model validation is off: ENABLED, PLATFORM, NAMESPACE, PHASE,
// TARGET_MODELS (resolved "namespace/name", comma-separated), TARGET_MODELS_ORIGINAL,
// TARGET_NAMESPACES, PREDICTION_ENABLED / _TEST_DATA / _EXPECTED_OUTPUT / _TOLERANCE,
// CUSTOM_API_GROUP / _RESOURCE_TYPE / _HEALTH_ENDPOINT / _PREDICTION_ENDPOINT and TIMEOUT.
// Unset spec fields leave their variable out, as there.
func Env(job *v1alpha1.NotebookValidationJob) []EnvVar {
	if !Enabled(job) {
		return nil
	}
	mv := job.Spec.ModelValidation
	env := []EnvVar{
		{"MODEL_VALIDATION_ENABLED", "true"},
		{"MODEL_VALIDATION_PLATFORM", mv.Platform},
		{"MODEL_VALIDATION_NAMESPACE", job.Namespace},
	}
	add := func(name, value string) {
		if value != "" {
			env = append(env, EnvVar{name, value})
		}
	}
	add("MODEL_VALIDATION_PHASE", mv.Phase)
	if len(mv.TargetModels) > 0 {
		targets, _ := Targets(job)
		resolved := make([]string, len(targets))
		namespaces := map[string]bool{}
		for i, t := range targets {
			resolved[i] = t.String()
			namespaces[t.Namespace] = true
		}
		unique := make([]string, 0, len(namespaces))
		for ns := range namespaces {
			unique = append(unique, ns)
		}
		sort.Strings(unique)
		env = append(env,
			EnvVar{"MODEL_VALIDATION_TARGET_MODELS", strings.Join(resolved, ",")},
			EnvVar{"MODEL_VALIDATION_TARGET_MODELS_ORIGINAL", strings.Join(mv.TargetModels, ",")},
			EnvVar{"MODEL_VALIDATION_TARGET_NAMESPACES", strings.Join(unique, ",")})
	}
	if pv := mv.PredictionValidation; pv != nil && pv.Enabled != nil && *pv.Enabled {
		env = append(env, EnvVar{"MODEL_VALIDATION_PREDICTION_ENABLED", "true"})
		add("MODEL_VALIDATION_PREDICTION_TEST_DATA", pv.TestData)
		add("MODEL_VALIDATION_PREDICTION_EXPECTED_OUTPUT", pv.ExpectedOutput)
		add("MODEL_VALIDATION_PREDICTION_TOLERANCE", pv.Tolerance)
	}
	if cp := mv.CustomPlatform; cp != nil {
		add("MODEL_VALIDATION_CUSTOM_API_GROUP", cp.APIGroup)
		add("MODEL_VALIDATION_CUSTOM_RESOURCE_TYPE", cp.ResourceType)
		add("MODEL_VALIDATION_CUSTOM_HEALTH_ENDPOINT", cp.HealthCheckEndpoint)
		add("MODEL_VALIDATION_CUSTOM_PREDICTION_ENDPOINT", cp.PredictionEndpoint)
	}
	add("MODEL_VALIDATION_TIMEOUT", mv.Timeout)
	return env
}

// EnvVar is one variable of Env (kept free of the core API types).
type EnvVar struct {
	Name, Value string
}
