package modelspec

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

func job(mv *v1alpha1.ModelValidationSpec) *v1alpha1.NotebookValidationJob {
	return &v1alpha1.NotebookValidationJob{ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "team-a"},
		Spec: v1alpha1.NotebookValidationJobSpec{ModelValidation: mv}}
}

func TestTargetsRefuseOtherNamespaces(t *testing.T) {
	targets, refused := Targets(job(&v1alpha1.ModelValidationSpec{
		TargetModels: []string{"iris", "team-a/wine", "team-b/fraud", "iris", "/x", "a/b/c", "Bad Name\x1b[31m", "../etc"},
	}))
	want := []Target{{"team-a", "iris"}, {"team-a", "wine"}}
	if !reflect.DeepEqual(targets, want) {
		t.Errorf("targets %v, want %v", targets, want)
	}
	if len(refused) != 5 || !strings.Contains(refused[3], "invalid model name") || !strings.Contains(refused[4], "cross-namespace") || !strings.Contains(refused[0], `cross-namespace model access is not allowed: model "fraud" is in namespace "team-b" but job is in namespace "team-a"`) {
		t.Errorf("refused %q", refused)
	}
}

func TestEnvIsTheExistingContract(t *testing.T) {
	on := true
	got := Env(job(&v1alpha1.ModelValidationSpec{
		Enabled: &on, Platform: "kserve", Phase: "existing", TargetModels: []string{"iris", "team-b/fraud"},
		PredictionValidation: &v1alpha1.PredictionValidationSpec{Enabled: &on, TestData: `{"instances":[[1,2]]}`, ExpectedOutput: `{"predictions":[1]}`, Tolerance: "0.01"},
		CustomPlatform:       &v1alpha1.CustomPlatformSpec{APIGroup: "example.com", ResourceType: "models", HealthCheckEndpoint: "/health"},
		Timeout:              "2m",
	}))
	want := []EnvVar{
		{"MODEL_VALIDATION_ENABLED", "true"},
		{"MODEL_VALIDATION_PLATFORM", "kserve"},
		{"MODEL_VALIDATION_NAMESPACE", "team-a"},
		{"MODEL_VALIDATION_PHASE", "existing"},
		{"MODEL_VALIDATION_TARGET_MODELS", "team-a/iris"},
		{"MODEL_VALIDATION_TARGET_MODELS_ORIGINAL", "iris,team-b/fraud"},
		{"MODEL_VALIDATION_TARGET_NAMESPACES", "team-a"},
		{"MODEL_VALIDATION_PREDICTION_ENABLED", "true"},
		{"MODEL_VALIDATION_PREDICTION_TEST_DATA", `{"instances":[[1,2]]}`},
		{"MODEL_VALIDATION_PREDICTION_EXPECTED_OUTPUT", `{"predictions":[1]}`},
		{"MODEL_VALIDATION_PREDICTION_TOLERANCE", "0.01"},
		{"MODEL_VALIDATION_CUSTOM_API_GROUP", "example.com"},
		{"MODEL_VALIDATION_CUSTOM_RESOURCE_TYPE", "models"},
		{"MODEL_VALIDATION_CUSTOM_HEALTH_ENDPOINT", "/health"},
		{"MODEL_VALIDATION_TIMEOUT", "2m"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env\n%v\nwant\n%v", got, want)
	}
	if env := Env(job(&v1alpha1.ModelValidationSpec{Platform: "kserve"})); env != nil {
		t.Errorf("enabled unset: env %v, want none (off, as in the existing operator)", env)
	}
	if d := Timeout(job(&v1alpha1.ModelValidationSpec{Timeout: "bogus"})); d != 5*time.Minute {
		t.Errorf("unparsable timeout: %v, want the 5m default", d)
	}
}
