package tekton

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build"
)

func newJob(bc v1alpha1.BuildConfigSpec, secret string) *v1alpha1.NotebookValidationJob {
	bc.Enabled = true
	bc.Strategy = v1alpha1.BuildStrategyTekton
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nb1", Namespace: "team-a", UID: types.UID("0f1e2d3c-aaaa-bbbb-cccc-1234567890ab")},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook: v1alpha1.NotebookSpec{
				Git:  v1alpha1.GitSpec{URL: "https://git.example.com/org/repo.git", Ref: "main", CredentialsSecret: secret},
				Path: "notebooks/deep/analysis.ipynb",
			},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "python:3.12", BuildConfig: &bc},
		},
	}
}

func param(pr *pipelinev1.PipelineRun, name string) string {
	for _, p := range pr.Spec.Params {
		if p.Name == name {
			return p.Value.StringVal
		}
	}
	return "<unset>"
}

func TestPipelineRunInline(t *testing.T) {
	pr, err := tektonRun(t, newJob(v1alpha1.BuildConfigSpec{Timeout: "20m"}, "git-creds"), "nb1-build-7f3a", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pr.APIVersion != "tekton.dev/v1" || pr.Kind != "PipelineRun" || pr.Name != "nb1-build-7f3a" || pr.Namespace != "team-a" {
		t.Errorf("identity = %s %s %s/%s", pr.APIVersion, pr.Kind, pr.Namespace, pr.Name)
	}
	if pr.Labels[build.JobLabel] != "nb1" || len(pr.OwnerReferences) != 1 || pr.OwnerReferences[0].Name != "nb1" {
		t.Errorf("labels %v owners %v", pr.Labels, pr.OwnerReferences)
	}
	if pr.Spec.Timeouts == nil || pr.Spec.Timeouts.Pipeline.Duration != 20*time.Minute {
		t.Errorf("timeouts = %+v, want pipeline 20m", pr.Spec.Timeouts)
	}
	if got := param(pr, "output-image"); got != "image-registry.openshift-image-registry.svc:5000/team-a/nb1:0f1e2d3c" {
		t.Errorf("output image = %q", got)
	}
	if param(pr, "git-url") != "https://git.example.com/org/repo.git" || param(pr, "git-revision") != "main" {
		t.Errorf("git params = %v", pr.Spec.Params)
	}

	// The Secret is bound by name only and mounted into the clone step only.
	var bound bool
	for _, w := range pr.Spec.Workspaces {
		if w.Name == WorkspaceCredentials {
			bound = w.Secret != nil && w.Secret.SecretName == "git-creds"
		}
	}
	if !bound {
		t.Errorf("credentials workspace not bound to Secret git-creds: %+v", pr.Spec.Workspaces)
	}
	steps := pr.Spec.PipelineSpec.Tasks[0].TaskSpec.Steps
	if len(steps) != 3 || steps[0].Name != stepClone || steps[2].Name != stepBuild {
		t.Fatalf("steps = %+v", steps)
	}
	for _, s := range steps {
		usesCreds := len(s.Workspaces) == 1 && s.Workspaces[0].Name == WorkspaceCredentials
		if usesCreds != (s.Name == stepClone) {
			t.Errorf("step %s credentials mount = %v", s.Name, usesCreds)
		}
	}
	if steps[2].Image != DefaultBuildahImage || steps[2].SecurityContext == nil {
		t.Errorf("builder step = %s %+v", steps[2].Image, steps[2].SecurityContext)
	}
	if !strings.Contains(steps[1].Script, "notebooks/requirements.txt") {
		t.Errorf("dockerfile step does not search the default chain:\n%s", steps[1].Script)
	}

	// Tekton's own validation accepts it.
	if err := pr.Validate(context.Background()); err != nil {
		t.Errorf("Tekton validation: %v", err)
	}

	// The dynamic client's form keeps the deadline and carries no secret material.
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pr)
	if err != nil {
		t.Fatal(err)
	}
	spec := u["spec"].(map[string]any)
	if got := spec["timeouts"].(map[string]any)["pipeline"]; got != "20m0s" {
		t.Errorf("unstructured spec.timeouts.pipeline = %v", got)
	}
}

// TestScriptsOnlyUseTektonVariables: every "$(" in a step script or env is a Tekton
// variable of ours; any other one would be mangled or rejected by Tekton.
func TestScriptsOnlyUseTektonVariables(t *testing.T) {
	pr, err := tektonRun(t, newJob(v1alpha1.BuildConfigSpec{RequirementsSources: []string{"x (1)/r.txt"}}, "s"), "n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ours := regexp.MustCompile(`^\$\((params\.[a-z-]+|results\.[A-Z_]+\.path|workspaces\.[a-z-]+\.path)\)`)
	for _, s := range pr.Spec.PipelineSpec.Tasks[0].TaskSpec.Steps {
		text := s.Script + strings.Join(s.Args, " ")
		for _, e := range s.Env {
			text += " " + e.Value
		}
		for i := strings.Index(text, "$("); i >= 0; i = next(text, i) {
			if !ours.MatchString(text[i:]) {
				t.Errorf("step %s: unexpected %q", s.Name, text[i:min(len(text), i+30)])
			}
		}
	}
}

func next(s string, i int) int {
	j := strings.Index(s[i+2:], "$(")
	if j < 0 {
		return -1
	}
	return i + 2 + j
}

func TestPipelineRunOptionsAndOverrides(t *testing.T) {
	opts := Options{BuilderImage: "registry.local/buildah:1", GitImage: "registry.local/git:1", OutputImage: "registry.local/{namespace}/{name}:{uid}"}
	pr, err := tektonRun(t, newJob(v1alpha1.BuildConfigSpec{}, ""), "n", opts)
	if err != nil {
		t.Fatal(err)
	}
	steps := pr.Spec.PipelineSpec.Tasks[0].TaskSpec.Steps
	if steps[0].Image != "registry.local/git:1" || steps[2].Image != "registry.local/buildah:1" {
		t.Errorf("images = %s %s", steps[0].Image, steps[2].Image)
	}
	if param(pr, "output-image") != "registry.local/team-a/nb1:0f1e2d3c" {
		t.Errorf("output = %s", param(pr, "output-image"))
	}
	if len(pr.Spec.Workspaces) != 1 || len(steps[0].Workspaces) != 0 {
		t.Errorf("no Secret, yet workspaces %+v / %+v", pr.Spec.Workspaces, steps[0].Workspaces)
	}

	// strategyConfig wins over Options.
	pr, err = tektonRun(t, newJob(v1alpha1.BuildConfigSpec{StrategyConfig: map[string]string{
		"builder": "kaniko", "outputImage": "quay.io/me/nb:{name}", "tlsVerify": "false", "serviceAccountName": "builder",
	}}, ""), "n", opts)
	if err != nil {
		t.Fatal(err)
	}
	b := pr.Spec.PipelineSpec.Tasks[0].TaskSpec.Steps[2]
	if b.Image != DefaultKanikoImage {
		t.Errorf("kaniko image = %s", b.Image)
	}
	if b.Command[0] != "/kaniko/executor" || !strings.Contains(strings.Join(b.Args, " "), "--skip-tls-verify") {
		t.Errorf("kaniko step = %+v", b)
	}
	if param(pr, "output-image") != "quay.io/me/nb:nb1" || pr.Spec.TaskRunTemplate.ServiceAccountName != "builder" {
		t.Errorf("output %s sa %s", param(pr, "output-image"), pr.Spec.TaskRunTemplate.ServiceAccountName)
	}

	for name, bc := range map[string]v1alpha1.BuildConfigSpec{
		"unknown builder":     {StrategyConfig: map[string]string{"builder": "docker"}},
		"output injection":    {StrategyConfig: map[string]string{"outputImage": "quay.io/x:y; rm -rf /"}},
		"traversal":           {RequirementsFile: "../../etc/passwd"},
		"bad timeout":         {Timeout: "forever"},
		"bad git image":       {StrategyConfig: map[string]string{"gitImage": "alpine\nRUN x"}},
		"unknown fallback":    {FallbackStrategy: "maybe"},
		"dockerfile absolute": {Dockerfile: "/Dockerfile"},
	} {
		if _, err := tektonRun(t, newJob(bc, ""), "n", Options{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	noBuild := newJob(v1alpha1.BuildConfigSpec{}, "")
	noBuild.Spec.PodConfig.BuildConfig.Enabled = false
	if _, err := tektonRun(t, noBuild, "n", Options{}); err == nil {
		t.Error("disabled build: no error")
	}
}

func TestPipelineRunRef(t *testing.T) {
	pr, err := tektonRun(t, newJob(v1alpha1.BuildConfigSpec{Timeout: "5m", StrategyConfig: map[string]string{
		"pipelineRef": "my-build", "param.zeta": "z", "param.IMAGE": "quay.io/me/x", "param.": "ignored", "builder": "kaniko",
	}}, "git-creds"), "n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Spec.PipelineSpec != nil || pr.Spec.PipelineRef == nil || pr.Spec.PipelineRef.Name != "my-build" {
		t.Fatalf("spec = %+v", pr.Spec)
	}
	if len(pr.Spec.Params) != 2 || pr.Spec.Params[0].Name != "IMAGE" || pr.Spec.Params[1].Value.StringVal != "z" {
		t.Errorf("params = %+v", pr.Spec.Params)
	}
	if pr.Spec.Timeouts.Pipeline.Duration != 5*time.Minute {
		t.Errorf("timeout = %v", pr.Spec.Timeouts.Pipeline)
	}
	if len(pr.Spec.Workspaces) != 1 || pr.Spec.Workspaces[0].Name != WorkspaceCredentials || pr.Spec.Workspaces[0].Secret.SecretName != "git-creds" {
		t.Errorf("workspaces = %+v", pr.Spec.Workspaces)
	}
}

// TestCloneScript runs the clone step's script against a local repository.
func TestCloneScript(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	origin := t.TempDir()
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@e", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@e")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, b)
		}
	}
	run(origin, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(origin, "requirements.txt"), []byte("six\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(origin, "add", ".")
	run(origin, "commit", "-q", "-m", "one")

	creds := t.TempDir()
	for k, v := range map[string]string{"username": "alice", "password": "s3cret"} {
		if err := os.WriteFile(filepath.Join(creds, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src, scratch := t.TempDir(), t.TempDir()
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(cloneScript, "/tmp/", scratch+"/"))
	cmd.Env = append(os.Environ(), "GIT_URL=file://"+origin, "GIT_REVISION=main", "SOURCE="+src, "CREDS="+creds, "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("clone: %v: %s", err, out)
	}
	if strings.Contains(string(out), "s3cret") {
		t.Errorf("credential printed: %s", out)
	}
	if b, err := os.ReadFile(filepath.Join(src, "requirements.txt")); err != nil || string(b) != "six\n" {
		t.Errorf("checkout: %q %v", b, err)
	}
	// The helper git was configured with answers from the mounted files.
	helper := exec.Command(filepath.Join(scratch, "nbv-git-credential"), "get")
	helper.Env = append(os.Environ(), "CREDS="+creds)
	if b, err := helper.Output(); err != nil || string(b) != "username=alice\npassword=s3cret\n" {
		t.Errorf("credential helper: %q %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(src, ".git", "config")); strings.Contains(string(b), "s3cret") {
		t.Error("credential written to .git/config")
	}
}

func readPR(t *testing.T, name string) *pipelinev1.PipelineRun {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../../test/fixtures/build", name))
	if err != nil {
		t.Fatal(err)
	}
	var pr pipelinev1.PipelineRun
	if err := yaml.UnmarshalStrict(b, &pr); err != nil {
		t.Fatal(err)
	}
	return &pr
}

func TestObserveFixtures(t *testing.T) {
	o := observeTekton(t, readPR(t, "pipelinerun-succeeded.yaml"))
	if o.State != build.StateSucceeded || o.Name != "nb1-build-7f3a" ||
		o.Image != "image-registry.openshift-image-registry.svc:5000/team-a/nb1:0f1e2d3c@sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904b825dc642cb6eb9a060e54b" {
		t.Errorf("succeeded: %+v", o)
	}
	if o.Started == nil || o.Completed == nil || o.Completed.Sub(o.Started.Time) != 270*time.Second {
		t.Errorf("times: %v %v", o.Started, o.Completed)
	}
	o = observeTekton(t, readPR(t, "pipelinerun-timeout.yaml"))
	if o.State != build.StateTimedOut || o.Reason != "PipelineRunTimeout" || !strings.Contains(o.Message, "15m0s") {
		t.Errorf("timeout: %+v", o)
	}
}

func TestObserveConditions(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		status  corev1.ConditionStatus
		reason  string
		results map[string]string
		want    build.State
		image   string
	}{
		{"", "", nil, build.StatePending, ""},
		{corev1.ConditionUnknown, "PipelineRunPending", nil, build.StatePending, ""},
		{corev1.ConditionUnknown, "ResolvingPipelineRef", nil, build.StatePending, ""},
		{corev1.ConditionUnknown, "Started", nil, build.StateRunning, ""},
		{corev1.ConditionUnknown, "Running", nil, build.StateRunning, ""},
		{corev1.ConditionUnknown, "CancelledRunningFinally", nil, build.StateRunning, ""},
		{corev1.ConditionTrue, "Succeeded", map[string]string{"IMAGE_URL": "q.io/a/b:t", "IMAGE_DIGEST": digest}, build.StateSucceeded, "q.io/a/b:t@" + digest},
		{corev1.ConditionTrue, "Completed", map[string]string{"IMAGE_URL": " q.io/a/b:t\n"}, build.StateSucceeded, "q.io/a/b:t"},
		{corev1.ConditionTrue, "Succeeded", map[string]string{"IMAGE_URL": "q.io/a/b:t", "IMAGE_DIGEST": "not-a-digest"}, build.StateSucceeded, "q.io/a/b:t"},
		{corev1.ConditionTrue, "Succeeded", map[string]string{"IMAGE_URL": "q.io/a/b@" + digest, "IMAGE_DIGEST": digest}, build.StateSucceeded, "q.io/a/b@" + digest},
		{corev1.ConditionTrue, "Succeeded", map[string]string{"IMAGE_DIGEST": digest}, build.StateFailed, ""},
		{corev1.ConditionFalse, "Failed", nil, build.StateFailed, ""},
		{corev1.ConditionFalse, "CouldntGetPipeline", nil, build.StateFailed, ""},
		{corev1.ConditionFalse, "PipelineRunTimeout", nil, build.StateTimedOut, ""},
		{corev1.ConditionFalse, "Cancelled", nil, build.StateCancelled, ""},
		{corev1.ConditionFalse, "PipelineRunCancelled", nil, build.StateCancelled, ""},
		{corev1.ConditionFalse, "StoppedRunFinally", nil, build.StateCancelled, ""},
	}
	for _, c := range cases {
		pr := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
		if c.status != "" {
			pr.Status.Conditions = duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: c.status, Reason: c.reason, Message: "m"}}
		}
		for k, v := range c.results {
			pr.Status.Results = append(pr.Status.Results, pipelinev1.PipelineRunResult{Name: k, Value: *pipelinev1.NewStructuredValues(v)})
		}
		o := observeTekton(t, pr)
		if o.State != c.want || o.Image != c.image {
			t.Errorf("%s/%s %v: got %s %q, want %s %q", c.status, c.reason, c.results, o.State, o.Image, c.want, c.image)
		}
		if c.want == build.StateFailed && c.status == corev1.ConditionTrue && o.Reason != build.ReasonImageMissing {
			t.Errorf("missing image: reason %q", o.Reason)
		}
		if c.status != "" && c.status != corev1.ConditionTrue && o.Message != "m" {
			t.Errorf("message not carried: %+v", o)
		}
	}
}

// TestRegistryChoosesTheOutputRegistry: strategyConfig.registry, the existing operator's key,
// moves the output image to that registry (same repository and tag as the default); an
// explicit outputImage still wins, and a registry that makes no valid image reference is
// refused naming the key.
func TestRegistryChoosesTheOutputRegistry(t *testing.T) {
	opts := Options{OutputImage: "registry.local/{namespace}/{name}:{uid}"}
	cases := []struct {
		cfg  map[string]string
		want string
	}{
		{map[string]string{"registry": "quay.io/ml-team"}, "quay.io/ml-team/team-a/nb1:0f1e2d3c"},
		{map[string]string{"registry": "registry.example.com:5000/"}, "registry.example.com:5000/team-a/nb1:0f1e2d3c"},
		{map[string]string{"registry": "quay.io/ml-team", "outputImage": "quay.io/me/nb:{name}"}, "quay.io/me/nb:nb1"},
		{map[string]string{}, "registry.local/team-a/nb1:0f1e2d3c"},
	}
	for _, c := range cases {
		pr, err := tektonRun(t, newJob(v1alpha1.BuildConfigSpec{StrategyConfig: c.cfg}, ""), "n", opts)
		if err != nil {
			t.Fatalf("%v: %v", c.cfg, err)
		}
		if got := param(pr, "output-image"); got != c.want {
			t.Errorf("%v: output %s, want %s", c.cfg, got, c.want)
		}
	}
	if pr, err := tektonRun(t, newJob(v1alpha1.BuildConfigSpec{}, ""), "n", Options{}); err != nil || param(pr, "output-image") != "image-registry.openshift-image-registry.svc:5000/team-a/nb1:0f1e2d3c" {
		t.Errorf("default output: %v", err)
	}
	_, err := tektonRun(t, newJob(v1alpha1.BuildConfigSpec{StrategyConfig: map[string]string{"registry": "Bad Registry"}}, ""), "n", opts)
	if err == nil || !strings.Contains(err.Error(), "strategyConfig.registry") {
		t.Errorf("invalid registry: %v, want an error naming strategyConfig.registry", err)
	}
}

// TestJobNamesOnlyAllowedImages: the privileged build step and the clone step run only images
// the installer chose: the deployment's own, or one of its allowlists. Any other image a job
// names is refused with an error naming the field, the image and the allowlist.
func TestJobNamesOnlyAllowedImages(t *testing.T) {
	opts := Options{BuilderImage: "registry.local/buildah:1", GitImage: "registry.local/git:1",
		AllowedBuilderImages: []string{"registry.local/buildah:2", "registry.local/kaniko:1"},
		AllowedGitImages:     []string{"registry.local/git:2"}}
	images := func(cfg map[string]string) (git, builder string, err error) {
		pr, err := tektonRun(t, newJob(v1alpha1.BuildConfigSpec{StrategyConfig: cfg}, ""), "n", opts)
		if err != nil {
			return "", "", err
		}
		steps := pr.Spec.PipelineSpec.Tasks[0].TaskSpec.Steps
		return steps[0].Image, steps[2].Image, nil
	}
	for name, tc := range map[string]struct {
		cfg          map[string]string
		git, builder string
	}{
		"deployment's":              {nil, "registry.local/git:1", "registry.local/buildah:1"},
		"deployment's, named":       {map[string]string{"builderImage": "registry.local/buildah:1", "gitImage": "registry.local/git:1"}, "registry.local/git:1", "registry.local/buildah:1"},
		"allowed":                   {map[string]string{"builderImage": "registry.local/buildah:2", "gitImage": "registry.local/git:2"}, "registry.local/git:2", "registry.local/buildah:2"},
		"kaniko default":            {map[string]string{"builder": "kaniko"}, "registry.local/git:1", DefaultKanikoImage},
		"kaniko, allowed image":     {map[string]string{"builder": "kaniko", "builderImage": "registry.local/kaniko:1"}, "registry.local/git:1", "registry.local/kaniko:1"},
		"kaniko default, named too": {map[string]string{"builder": "kaniko", "builderImage": DefaultKanikoImage}, "registry.local/git:1", DefaultKanikoImage},
	} {
		git, builder, err := images(tc.cfg)
		if err != nil || git != tc.git || builder != tc.builder {
			t.Errorf("%s: images %s, %s (%v); want %s, %s", name, git, builder, err, tc.git, tc.builder)
		}
	}
	for name, tc := range map[string]struct {
		cfg  map[string]string
		want []string
	}{
		"builder":                  {map[string]string{"builderImage": "evil.example/root:1"}, []string{"strategyConfig.builderImage", `"evil.example/root:1"`, "builderImages: registry.local/buildah:2, registry.local/kaniko:1"}},
		"git":                      {map[string]string{"gitImage": "evil.example/git:1"}, []string{"strategyConfig.gitImage", "gitImages: registry.local/git:2"}},
		"git image as builder":     {map[string]string{"builderImage": "registry.local/git:2"}, []string{"strategyConfig.builderImage"}},
		"kaniko, deployment's":     {map[string]string{"builder": "kaniko", "builderImage": "registry.local/buildah:1"}, []string{"strategyConfig.builderImage"}},
		"buildah default, renamed": {map[string]string{"builderImage": DefaultBuildahImage}, []string{"strategyConfig.builderImage"}},
	} {
		_, _, err := images(tc.cfg)
		if !errors.Is(err, ErrImageNotAllowed) {
			t.Errorf("%s: error %v, want ErrImageNotAllowed", name, err)
			continue
		}
		for _, w := range append(tc.want, AllowlistSource) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %s", name, err, w)
			}
		}
	}
	opts.AllowedBuilderImages = nil
	if _, _, err := images(map[string]string{"builderImage": "registry.local/buildah:2"}); err == nil || !strings.Contains(err.Error(), "builderImages: none") {
		t.Errorf("empty allowlist: error %v, want one saying none is allowed", err)
	}
}
