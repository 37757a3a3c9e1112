package reuse

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

const (
	commitA  = "0123456789abcdef0123456789abcdef01234567"
	commitB  = "89abcdef0123456789abcdef0123456789abcdef"
	digestA  = "@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB  = "@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	runnerV1 = "registry.example.com/nbv-runner@sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

// pinnedJob is a job whose every input is fixed by its spec.
func pinnedJob() *v1alpha1.NotebookValidationJob {
	tolerance := "0.001"
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nb", Namespace: "team-a", Annotations: map[string]string{v1alpha1.AnnotationReuse: "true"}},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook:       v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "https://git.example.com/ml/nb.git", Ref: commitA}, Path: "train.ipynb"},
			GoldenNotebook: &v1alpha1.NotebookSpec{Git: v1alpha1.GitSpec{URL: "https://git.example.com/ml/nb.git", Ref: commitA}, Path: "train.golden.ipynb"},
			PodConfig: v1alpha1.PodConfigSpec{
				ContainerImage:     "quay.io/jupyter/minimal-notebook" + digestA,
				Env:                []v1alpha1.EnvVar{{Name: "SEED", Value: "1"}},
				Resources:          &v1alpha1.ResourceRequirements{Limits: map[string]string{"memory": "1Gi"}},
				ServiceAccountName: "default",
			},
			Timeout: "30m",
			Execution: &v1alpha1.ExecutionSpec{
				Parameters:  map[string]apiextensionsv1.JSON{"epochs": {Raw: []byte(`{"n": 3, "names": ["a", "b"]}`)}},
				CellTimeout: "5m",
				KernelName:  "python3",
			},
			ValidationConfig: &v1alpha1.ValidationConfigSpec{Level: "development", FailOnStderr: true},
			ComparisonConfig: &v1alpha1.ComparisonConfigSpec{Strategy: "normalized", FloatingPointTolerance: &tolerance},
		},
	}
}

func mustKey(t *testing.T, job *v1alpha1.NotebookValidationJob, runner string) *v1alpha1.ReuseKey {
	t.Helper()
	key, err := Key(job, runner)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	return key
}

// A change to any input changes exactly that part of the key, and so the digest; a change to
// what is not an input (name, scheduling, annotations) changes nothing.
func TestEveryInputIsAPartOfTheKey(t *testing.T) {
	base := mustKey(t, pinnedJob(), runnerV1)
	if !strings.HasPrefix(base.Digest, "sha256:") || len(base.Digest) != len("sha256:")+64 {
		t.Fatalf("digest %q, want sha256:<64 hex>", base.Digest)
	}
	for _, c := range []struct {
		part   string // "" when the key must not change
		runner string
		change func(*v1alpha1.NotebookValidationJob)
	}{
		{"notebook", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.Notebook.Git.Ref = commitB }},
		{"notebook", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.Notebook.Path = "eval.ipynb" }},
		{"notebook", runnerV1, func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.Notebook.Git.URL = "https://git.example.com/ml/fork.git"
		}},
		{"golden", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.GoldenNotebook.Git.Ref = commitB }},
		{"golden", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.GoldenNotebook = nil }},
		{"image", runnerV1, func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.ContainerImage = "quay.io/jupyter/minimal-notebook" + digestB
		}},
		{"execution", runnerV1, func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.Execution.Parameters["epochs"] = apiextensionsv1.JSON{Raw: []byte(`{"n": 4, "names": ["a", "b"]}`)}
		}},
		{"execution", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.Execution.CellTimeout = "6m" }},
		{"execution", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.Execution.KernelName = "python3.12" }},
		{"execution", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.Timeout = "10m" }},
		{"validation", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.ValidationConfig.FailOnStderr = false }},
		{"validation", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.ValidationConfig.Level = "production" }},
		{"comparison", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.ComparisonConfig.Strategy = "exact" }},
		{"comparison", runnerV1, func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.ComparisonConfig.MaskPatterns = []v1alpha1.MaskPattern{{Pattern: `0x[0-9a-f]+`}}
		}},
		{"environment", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.PodConfig.Env[0].Value = "2" }},
		{"environment", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.PodConfig.Resources.Limits["memory"] = "2Gi" }},
		{"environment", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.PodConfig.ServiceAccountName = "notebooks" }},
		{"runner", "registry.example.com/nbv-runner@sha256:2222222222222222222222222222222222222222222222222222222222222222", func(*v1alpha1.NotebookValidationJob) {}},
		{"", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Name = "nb-again" }},
		{"", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Annotations["argocd.argoproj.io/sync-wave"] = "2" }},
		{"", runnerV1, func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.NodeSelector = map[string]string{"gpu": "a100"}
		}},
		{"", runnerV1, func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.Execution.Parameters["epochs"] = apiextensionsv1.JSON{Raw: []byte(`{"names":["a","b"],"n":3}`)}
		}},
		{"", runnerV1, func(j *v1alpha1.NotebookValidationJob) { j.Spec.Notebook.Git.Ref = strings.ToUpper(commitA) }},
	} {
		job := pinnedJob()
		c.change(job)
		key := mustKey(t, job, c.runner)
		var changed []string
		baseParts := Parts(base)
		for i, p := range Parts(key) {
			if p.Value != baseParts[i].Value {
				changed = append(changed, p.Name)
			}
		}
		name := c.part
		if name == "" {
			name = "no input"
		}
		switch {
		case c.part == "" && (len(changed) > 0 || key.Digest != base.Digest):
			t.Errorf("%s changed: parts %v changed, digest %s", name, changed, key.Digest)
		case c.part != "" && (len(changed) != 1 || changed[0] != c.part):
			t.Errorf("%s changed: parts %v changed, want [%s]", name, changed, c.part)
		case c.part != "" && key.Digest == base.Digest:
			t.Errorf("%s changed: digest did not change", name)
		}
	}
}

// A job whose spec leaves an input to the run, or gives the notebook content from outside the
// key, has no key; the error names the input.
func TestUnpinnedInputsAreNotReusable(t *testing.T) {
	for _, c := range []struct {
		input  string
		change func(*v1alpha1.NotebookValidationJob)
	}{
		{"spec.notebook.git.ref", func(j *v1alpha1.NotebookValidationJob) { j.Spec.Notebook.Git.Ref = "main" }},
		{"spec.notebook.git.ref", func(j *v1alpha1.NotebookValidationJob) { j.Spec.Notebook.Git.Ref = "v1.2.0" }},
		{"spec.notebook.git.ref", func(j *v1alpha1.NotebookValidationJob) { j.Spec.Notebook.Git.Ref = commitA[:12] }},
		{"spec.goldenNotebook.git.ref", func(j *v1alpha1.NotebookValidationJob) { j.Spec.GoldenNotebook.Git.Ref = "main" }},
		{"spec.podConfig.containerImage", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.ContainerImage = "quay.io/jupyter/minimal-notebook:latest"
		}},
		{"spec.podConfig.buildConfig", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: v1alpha1.BuildStrategyTekton}
		}},
		{"spec.modelValidation", func(j *v1alpha1.NotebookValidationJob) {
			on := true
			j.Spec.ModelValidation = &v1alpha1.ModelValidationSpec{Enabled: &on, TargetModels: []string{"iris"}}
		}},
		{"spec.podConfig.envFrom", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s3"}}}}
		}},
		{"spec.podConfig.envFrom and credentials", func(j *v1alpha1.NotebookValidationJob) { j.Spec.PodConfig.Credentials = []string{"s3"} }},
		{"spec.podConfig.volumeMounts", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}},
		{"spec.podConfig.env[TOKEN].valueFrom", func(j *v1alpha1.NotebookValidationJob) {
			j.Spec.PodConfig.Env = append(j.Spec.PodConfig.Env, v1alpha1.EnvVar{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "t"}}})
		}},
	} {
		job := pinnedJob()
		c.change(job)
		key, err := Key(job, runnerV1)
		var nr *NotReusableError
		if key != nil || !errors.As(err, &nr) || !strings.HasPrefix(nr.Input, c.input) || !strings.HasPrefix(err.Error(), c.input+" ") {
			t.Errorf("%s: key %v, error %v; want not reusable naming %s", c.input, key, err, c.input)
		}
	}
	if key, err := Key(pinnedJob(), ""); key != nil || err == nil || !strings.Contains(err.Error(), "NBV_RUNNER_IMAGE") {
		t.Errorf("no runner image: key %v, error %v", key, err)
	}
}

func TestRequested(t *testing.T) {
	for _, c := range []struct {
		annotations map[string]string
		want        bool
		err         string
	}{
		{nil, false, ""},
		{map[string]string{"other": "true"}, false, ""},
		{map[string]string{v1alpha1.AnnotationReuse: "true"}, true, ""},
		{map[string]string{v1alpha1.AnnotationReuse: "false"}, false, ""},
		{map[string]string{v1alpha1.AnnotationReuse: "yes"}, false, `annotation mlops.mlops.dev/reuse is "yes": want "true"`},
		{map[string]string{v1alpha1.AnnotationReuse: "True"}, false, `annotation mlops.mlops.dev/reuse is "True"`},
		{map[string]string{v1alpha1.AnnotationReuse: ""}, false, `annotation mlops.mlops.dev/reuse is ""`},
	} {
		job := pinnedJob()
		job.Annotations = c.annotations
		got, err := Requested(job)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%v: %v, %v; want %v, error containing %q", c.annotations, got, err, c.want, c.err)
		}
	}
}

func TestFieldSelector(t *testing.T) {
	key := mustKey(t, pinnedJob(), runnerV1)
	if got := FieldSelector(key); got != "status.reuseKey.digest="+key.Digest {
		t.Errorf("FieldSelector %q", got)
	}
}
