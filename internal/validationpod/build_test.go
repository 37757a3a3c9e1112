package validationpod

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

var update = flag.Bool("update", false, "rewrite the golden files in test/fixtures/podspec")

const (
	goldenDir   = "../../test/fixtures/podspec"
	runnerImage = "ghcr.io/mlops-dev/nbv-runner:v0.1.0"
	userImage   = "quay.io/jupyter/minimal-notebook:2025-01-06"
)

func minimalJob() *v1alpha1.NotebookValidationJob {
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "iris", Namespace: "team-a", UID: "6f1c1f0e-7d0a-4d6b-9a59-0f5d1f8a1b2c", Generation: 1},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook: v1alpha1.NotebookSpec{
				Git:  v1alpha1.GitSpec{URL: "https://github.com/example/notebooks.git", Ref: "main"},
				Path: "classification/iris.ipynb",
			},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: userImage},
		},
	}
}

func everyFieldJob() *v1alpha1.NotebookValidationJob {
	job := minimalJob()
	job.Name = "iris-full"
	job.Spec.Timeout = "1h30m"
	job.Spec.GoldenNotebook = &v1alpha1.NotebookSpec{
		Git:  v1alpha1.GitSpec{URL: "https://github.com/example/goldens.git", Ref: "v1.2.0"},
		Path: "classification/iris.golden.ipynb",
	}
	job.Spec.Execution = &v1alpha1.ExecutionSpec{
		Parameters:  map[string]apiextensionsv1.JSON{"epochs": {Raw: []byte(`3`)}, "name": {Raw: []byte(`"iris"`)}},
		CellTimeout: "5m",
		KernelName:  "python3",
	}
	job.Spec.ValidationConfig = &v1alpha1.ValidationConfigSpec{Level: "production", FailOnStderr: true}
	job.Spec.PodConfig = v1alpha1.PodConfigSpec{
		ContainerImage: userImage,
		Resources: &v1alpha1.ResourceRequirements{
			Limits:   map[string]string{"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
			Requests: map[string]string{"cpu": "500m", "memory": "1Gi"},
		},
		ServiceAccountName: "notebook-runner",
		Env: []v1alpha1.EnvVar{
			{Name: "MODE", Value: "ci"},
			{Name: "API_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "api"}, Key: "token"}}},
		},
		EnvFrom:     []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
		Credentials: []string{"aws-credentials", "hf-token"},
		Volumes: []corev1.Volume{
			{Name: "datasets", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "datasets", ReadOnly: true}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "datasets", MountPath: "/data", ReadOnly: true},
			{Name: "scratch", MountPath: "/scratch"},
		},
		Tolerations:  []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		NodeSelector: map[string]string{"node.kubernetes.io/instance-type": "g5.xlarge"},
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}}},
			}}},
		}},
	}
	return job
}

func privateReposJob() *v1alpha1.NotebookValidationJob {
	job := minimalJob()
	job.Name = "iris-private"
	job.Spec.Notebook.Git = v1alpha1.GitSpec{URL: "https://git.example.com/ml/private.git", Ref: "release", CredentialsSecret: "git-https"}
	job.Spec.GoldenNotebook = &v1alpha1.NotebookSpec{
		Git:  v1alpha1.GitSpec{URL: "git@git.example.com:ml/goldens.git", Ref: "3f2a9c1", CredentialsSecret: "git-ssh"},
		Path: "iris.ipynb",
	}
	return job
}

func builtImageJob() *v1alpha1.NotebookValidationJob {
	job := minimalJob()
	job.Name = "iris-built"
	job.Spec.PodConfig.BuildConfig = &v1alpha1.BuildConfigSpec{Enabled: true, Strategy: v1alpha1.BuildStrategyTekton, BaseImage: userImage}
	return job
}

// modelValidationJob asks for model validation as the existing operator's KServe sample does;
// its pod carries the MODEL_VALIDATION_* contract, and the user's env after it.
func modelValidationJob() *v1alpha1.NotebookValidationJob {
	job := minimalJob()
	job.Name = "iris-model"
	on := true
	job.Spec.PodConfig.Env = []v1alpha1.EnvVar{{Name: "MODE", Value: "ci"}}
	job.Spec.ModelValidation = &v1alpha1.ModelValidationSpec{
		Enabled: &on, Platform: "kserve", Phase: "both", TargetModels: []string{"sklearn-iris", "other-team/fraud"},
		PredictionValidation: &v1alpha1.PredictionValidationSpec{Enabled: &on, TestData: `{"instances": [[5.1, 3.5, 1.4, 0.2]]}`, ExpectedOutput: `{"predictions": [0]}`, Tolerance: "0.01"},
		Timeout:              "5m",
	}
	return job
}

var testArtifacts = ArtifactOptions{Repository: "registry.example.com/nbv-runs", Secret: "nbv-registry-push"}

const builtImage = "registry.example.com/team-a/iris-built@sha256:0f4e8b1c2d3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"

func TestBuildGolden(t *testing.T) {
	fsGroup := int64(65532)
	cases := []struct {
		file  string
		job   *v1alpha1.NotebookValidationJob
		image string
		opts  Options
	}{
		{"minimal.yaml", minimalJob(), userImage, Options{RunnerImage: runnerImage}},
		{"every-podconfig-field.yaml", everyFieldJob(), userImage, Options{RunnerImage: runnerImage}},
		{"private-repos.yaml", privateReposJob(), userImage, Options{RunnerImage: runnerImage, FSGroup: &fsGroup}},
		{"built-image.yaml", builtImageJob(), builtImage, Options{RunnerImage: runnerImage}},
		{"model-validation.yaml", modelValidationJob(), userImage, Options{RunnerImage: runnerImage}},
		{"publish.yaml", everyFieldJob(), userImage, Options{RunnerImage: runnerImage, Artifacts: testArtifacts}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			pod, err := Build(tc.job, statemachine.PodName(tc.job, 0), tc.image, tc.opts)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			got, err := yaml.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(goldenDir, tc.file)
			if *update {
				if err := os.MkdirAll(goldenDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (regenerate with go test ./internal/validationpod -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("pod differs from %s (regenerate with -update after checking the change):\n--- got\n%s", path, got)
			}
		})
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	// Map iteration order must not leak into the pod: the golden files depend on it and so
	// does "already exists is success" when two functions race to create the same pod.
	first, err := Build(everyFieldJob(), "p", userImage, Options{RunnerImage: runnerImage})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(first)
	for range 20 {
		again, err := Build(everyFieldJob(), "p", userImage, Options{RunnerImage: runnerImage})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(again); !bytes.Equal(a, b) {
			t.Fatal("two builds of the same job differ")
		}
	}
}

func TestBuildShape(t *testing.T) {
	job := everyFieldJob()
	pod, err := Build(job, "iris-full-validation-1", builtImage, Options{RunnerImage: runnerImage})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Name != "iris-full-validation-1" || pod.Namespace != "team-a" {
		t.Errorf("pod is %s/%s", pod.Namespace, pod.Name)
	}
	if got := pod.Labels[LabelJob]; got != job.Name {
		t.Errorf("job label = %q", got)
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.UID != job.UID || ref.APIVersion != "mlops.mlops.dev/v1alpha1" || ref.Kind != "NotebookValidationJob" ||
		ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller ref = %+v", ref)
	}
	if d := pod.Spec.ActiveDeadlineSeconds; d == nil || *d != 5400 {
		t.Errorf("activeDeadlineSeconds = %v, want 5400 for 1h30m", d)
	}
	if a := pod.Spec.AutomountServiceAccountToken; a == nil || !*a {
		t.Error("a user-chosen service account must get its token mounted")
	}
	main := pod.Spec.Containers[0]
	if main.Image != builtImage {
		t.Errorf("notebook image = %q, want the built image", main.Image)
	}
	if q := main.Resources.Limits["nvidia.com/gpu"]; q.String() != "1" {
		t.Errorf("gpu limit = %s", q.String())
	}
	var spec v1alpha1.NotebookValidationJobSpec
	if err := json.Unmarshal([]byte(main.Env[0].Value), &spec); err != nil || main.Env[0].Name != EnvJobSpec {
		t.Fatalf("first env is %s, not a decodable job spec: %v", main.Env[0].Name, err)
	}
	if spec.PodConfig.ContainerImage != builtImage || spec.PodConfig.Env != nil || spec.Execution.KernelName != "python3" ||
		spec.GoldenNotebook == nil || string(spec.Execution.Parameters["epochs"].Raw) != "3" {
		t.Errorf("NBV_JOB_SPEC lost or leaked fields: %+v", spec)
	}
	if n := len(main.EnvFrom); n != 3 || main.EnvFrom[2].SecretRef == nil || main.EnvFrom[2].SecretRef.Name != "hf-token" {
		t.Errorf("envFrom = %+v, want configMap + one secretRef per credentials entry", main.EnvFrom)
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
			sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container %s is not restricted: %+v", c.Name, sc)
		}
		if c.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
			t.Errorf("container %s terminationMessagePolicy = %q", c.Name, c.TerminationMessagePolicy)
		}
	}
}

func TestBuildDefaults(t *testing.T) {
	pod, err := Build(minimalJob(), "p", userImage, Options{RunnerImage: runnerImage})
	if err != nil {
		t.Fatal(err)
	}
	if d := *pod.Spec.ActiveDeadlineSeconds; d != 1800 {
		t.Errorf("default deadline = %d, want 1800", d)
	}
	if pod.Spec.ServiceAccountName != "default" || *pod.Spec.AutomountServiceAccountToken {
		t.Errorf("default service account %q must not get a token", pod.Spec.ServiceAccountName)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %s", pod.Spec.RestartPolicy)
	}

	job := minimalJob()
	job.Spec.Timeout = "1500ms"
	pod, err = Build(job, "p", userImage, Options{RunnerImage: runnerImage})
	if err != nil {
		t.Fatal(err)
	}
	if d := *pod.Spec.ActiveDeadlineSeconds; d != 2 {
		t.Errorf("1500ms became %ds, want 2 (rounded up)", d)
	}

	job = minimalJob()
	job.Spec.PodConfig.ServiceAccountName = "default"
	job.Spec.PodConfig.VolumeMounts = []corev1.VolumeMount{{Name: "d", MountPath: "/nbvdata"}}
	job.Spec.PodConfig.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	if _, err := Build(job, "p", userImage, Options{RunnerImage: runnerImage}); err != nil {
		t.Errorf("/nbvdata does not overlap /nbv, yet: %v", err)
	}
}

// TestNoSecretValueInPod builds a pod for a job that uses every way of referencing a Secret
// and checks that nothing in the pod carries a value of it.
func TestNoSecretValueInPod(t *testing.T) {
	secrets := []corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "git-https"}, StringData: map[string]string{"username": "ci-bot", "password": "ghp_s3cr3tT0kenValue0123456789abcdef"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "git-ssh"}, StringData: map[string]string{"ssh-privatekey": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "api"}, StringData: map[string]string{"token": "sk-live-9f8e7d6c5b4a39281706"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "aws-credentials"}, StringData: map[string]string{"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
	}
	job := everyFieldJob()
	job.Spec.Notebook.Git.CredentialsSecret = "git-https"
	job.Spec.GoldenNotebook.Git.CredentialsSecret = "git-ssh"
	pod, err := Build(job, "p", userImage, Options{RunnerImage: runnerImage})
	if err != nil {
		t.Fatal(err)
	}
	asJSON, _ := json.Marshal(pod)
	asYAML, _ := yaml.Marshal(pod)
	for _, s := range secrets {
		for k, v := range s.StringData {
			for _, form := range []string{v, strings.ReplaceAll(v, "\n", `\n`)} {
				if bytes.Contains(asJSON, []byte(form)) || bytes.Contains(asYAML, []byte(form)) {
					t.Errorf("value of secret %s key %s appears in the pod", s.Name, k)
				}
			}
		}
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom == nil && e.Name != EnvJobSpec && e.Name != EnvSecretNames && e.Name != "MODE" {
				t.Errorf("container %s has a literal env %s the job did not ask for", c.Name, e.Name)
			}
		}
		for _, m := range c.VolumeMounts {
			if strings.HasPrefix(m.Name, "nbv-git-") && c.Name != PrepareContainer {
				t.Errorf("git credentials volume %s is mounted into %s", m.Name, c.Name)
			}
		}
		for _, a := range append(append([]string{}, c.Command...), c.Args...) {
			if strings.Contains(a, "git-https") || strings.Contains(a, "git-ssh") {
				t.Errorf("container %s names a credentials secret on its command line: %q", c.Name, a)
			}
		}
	}
	mounted := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			mounted[v.Secret.SecretName] = true
			if strings.HasPrefix(v.Name, volRedactPrefix) {
				continue // the notebook container's own env Secrets, for the runner to mask: TestRedaction
			}
			if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o077 != 0o040 {
				t.Errorf("secret volume %s mode %v: want readable by owner and fsGroup only", v.Name, v.Secret.DefaultMode)
			}
		}
	}
	if !mounted["git-https"] || !mounted["git-ssh"] {
		t.Errorf("git credentials are not mounted as secret volumes: %v", mounted)
	}
}

func TestBuildErrors(t *testing.T) {
	opts := Options{RunnerImage: runnerImage}
	cases := []struct {
		name   string
		mutate func(*v1alpha1.NotebookValidationJob, *string, *string, *Options)
		want   string
	}{
		{"empty pod name", func(_ *v1alpha1.NotebookValidationJob, n, _ *string, _ *Options) { *n = "" }, "pod name is empty"},
		{"empty image", func(_ *v1alpha1.NotebookValidationJob, _, i *string, _ *Options) { *i = "" }, "notebook image is empty"},
		{"no runner image", func(_ *v1alpha1.NotebookValidationJob, _, _ *string, o *Options) { o.RunnerImage = "" }, "runner image is empty"},
		{"no uid", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) { j.UID = "" }, "has no UID"},
		{"name too long for a label", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) { j.Name = strings.Repeat("a", 64) }, "cannot be the value of label"},
		{"unparsable timeout", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) { j.Spec.Timeout = "half an hour" }, `spec.timeout "half an hour" is not a Go duration`},
		{"zero timeout", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) { j.Spec.Timeout = "0s" }, "must be positive"},
		{"bad limit", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) {
			j.Spec.PodConfig.Resources = &v1alpha1.ResourceRequirements{Limits: map[string]string{"cpu": "1", "memory": "4 GB"}}
		}, `resources.limits["memory"] = "4 GB"`},
		{"bad request", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) {
			j.Spec.PodConfig.Resources = &v1alpha1.ResourceRequirements{Requests: map[string]string{"cpu": "lots"}}
		}, `resources.requests["cpu"] = "lots"`},
		{"reserved volume name", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) {
			j.Spec.PodConfig.Volumes = []corev1.Volume{{Name: "nbv-bin"}}
		}, `volumes[0]: name "nbv-bin" uses the prefix "nbv-"`},
		{"reserved mount name", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) {
			j.Spec.PodConfig.VolumeMounts = []corev1.VolumeMount{{Name: "nbv-workspace", MountPath: "/w"}}
		}, `volumeMounts[0]: name "nbv-workspace"`},
		{"mount at /nbv", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) {
			j.Spec.PodConfig.VolumeMounts = []corev1.VolumeMount{{Name: "d", MountPath: "/nbv"}}
		}, `mountPath "/nbv" overlaps /nbv`},
		{"mount under /nbv", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) {
			j.Spec.PodConfig.Volumes = []corev1.Volume{{Name: "ok"}}
			j.Spec.PodConfig.VolumeMounts = []corev1.VolumeMount{{Name: "ok", MountPath: "/x"}, {Name: "d", MountPath: "/nbv/workspace/data/"}}
		}, `volumeMounts[1] (d): mountPath "/nbv/workspace/data/" overlaps /nbv`},
		{"mount above /nbv", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) {
			j.Spec.PodConfig.VolumeMounts = []corev1.VolumeMount{{Name: "d", MountPath: "/"}}
		}, `mountPath "/" overlaps /nbv`},
		{"mount over the termination log", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) {
			j.Spec.PodConfig.VolumeMounts = []corev1.VolumeMount{{Name: "d", MountPath: "/dev"}}
		}, `overlaps /dev/termination-log`},
		{"mount of an undeclared volume", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) {
			j.Spec.PodConfig.Volumes = []corev1.Volume{{Name: "data"}}
			j.Spec.PodConfig.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "datta", MountPath: "/more"}}
		}, `volumeMounts[1]: volume "datta" is not declared in spec.podConfig.volumes`},
		{"env overrides the job spec", func(j *v1alpha1.NotebookValidationJob, _, _ *string, _ *Options) {
			j.Spec.PodConfig.Env = []v1alpha1.EnvVar{{Name: "A", Value: "1"}, {Name: EnvJobSpec, Value: "{}"}}
		}, "env[1]: NBV_JOB_SPEC is set by the validation pod"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job, name, image, o := minimalJob(), "p", userImage, opts
			tc.mutate(job, &name, &image, &o)
			pod, err := Build(job, name, image, o)
			if err == nil {
				t.Fatalf("Build succeeded: %v", pod.Name)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	if _, err := Build(nil, "p", userImage, opts); err == nil {
		t.Error("Build(nil) succeeded")
	}
}
