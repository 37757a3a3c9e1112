package s2i

import (
	"os"
	"strings"
	"testing"
	"time"

	buildv1 "github.com/openshift/api/build/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/build"
)

func newJob(bc v1alpha1.BuildConfigSpec, secret string) *v1alpha1.NotebookValidationJob {
	bc.Enabled = true
	bc.Strategy = v1alpha1.BuildStrategyS2I
	return &v1alpha1.NotebookValidationJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nb1", Namespace: "team-a", UID: types.UID("0f1e2d3c-aaaa-bbbb-cccc-1234567890ab")},
		Spec: v1alpha1.NotebookValidationJobSpec{
			Notebook: v1alpha1.NotebookSpec{
				Git:  v1alpha1.GitSpec{URL: "https://git.example.com/org/repo.git", Ref: "v1.2", CredentialsSecret: secret},
				Path: "nb/analysis.ipynb",
			},
			PodConfig: v1alpha1.PodConfigSpec{ContainerImage: "python:3.12", BuildConfig: &bc},
		},
	}
}

func boolp(b bool) *bool { return &b }

func TestBuildDefault(t *testing.T) {
	b, err := Build(newJob(v1alpha1.BuildConfigSpec{Timeout: "10m", BaseImage: "python:3.12"}, "git-creds"), "nb1-build-1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b.APIVersion != "build.openshift.io/v1" || b.Kind != "Build" || b.Name != "nb1-build-1" || b.Namespace != "team-a" {
		t.Errorf("identity %s %s %s/%s", b.APIVersion, b.Kind, b.Namespace, b.Name)
	}
	if b.Labels[build.JobLabel] != "nb1" || len(b.OwnerReferences) != 1 || !*b.OwnerReferences[0].Controller {
		t.Errorf("labels %v owners %v", b.Labels, b.OwnerReferences)
	}
	s := b.Spec.CommonSpec
	if s.CompletionDeadlineSeconds == nil || *s.CompletionDeadlineSeconds != 600 {
		t.Errorf("deadline = %v", s.CompletionDeadlineSeconds)
	}
	if s.Source.Type != buildv1.BuildSourceGit || s.Source.Git.URI != "https://git.example.com/org/repo.git" || s.Source.Git.Ref != "v1.2" {
		t.Errorf("source = %+v", s.Source)
	}
	if s.Source.SourceSecret == nil || s.Source.SourceSecret.Name != "git-creds" {
		t.Errorf("sourceSecret = %v", s.Source.SourceSecret)
	}
	if s.Strategy.Type != buildv1.DockerBuildStrategyType || s.Source.Dockerfile == nil {
		t.Fatalf("strategy = %+v, inline dockerfile %v", s.Strategy, s.Source.Dockerfile)
	}
	df := *s.Source.Dockerfile
	if !strings.HasPrefix(df, "FROM python:3.12 AS nbv-requirements\n") || !strings.Contains(df, "nb/requirements.txt") {
		t.Errorf("inline Dockerfile:\n%s", df)
	}
	if s.Output.To == nil || s.Output.To.Kind != "ImageStreamTag" || s.Output.To.Name != "nb1:latest" {
		t.Errorf("output = %+v", s.Output.To)
	}
	if len(b.Spec.TriggeredBy) != 1 {
		t.Errorf("triggeredBy = %v", b.Spec.TriggeredBy)
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := u["spec"].(map[string]any)["completionDeadlineSeconds"]; got != int64(600) {
		t.Errorf("unstructured completionDeadlineSeconds = %#v", got)
	}
}

func TestStrategies(t *testing.T) {
	cases := []struct {
		name     string
		bc       v1alpha1.BuildConfigSpec
		strategy buildv1.BuildStrategyType
		path     string // dockerStrategy.dockerfilePath
		inline   bool
	}{
		{"preferred Dockerfile", v1alpha1.BuildConfigSpec{Dockerfile: "./docker/Dockerfile", PreferDockerfile: true}, buildv1.DockerBuildStrategyType, "docker/Dockerfile", false},
		{"Dockerfile, no generation", v1alpha1.BuildConfigSpec{Dockerfile: "Containerfile", AutoGenerateRequirements: boolp(false)}, buildv1.DockerBuildStrategyType, "Containerfile", false},
		{"not preferred: generated", v1alpha1.BuildConfigSpec{Dockerfile: "docker/Dockerfile"}, buildv1.DockerBuildStrategyType, "", true},
		{"nothing to generate: source strategy", v1alpha1.BuildConfigSpec{AutoGenerateRequirements: boolp(false), BaseImage: "registry.access.redhat.com/ubi9/python-311"}, buildv1.SourceBuildStrategyType, "", false},
	}
	for _, c := range cases {
		b, err := Build(newJob(c.bc, ""), "n", Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		st := b.Spec.Strategy
		if st.Type != c.strategy || (b.Spec.Source.Dockerfile != nil) != c.inline {
			t.Errorf("%s: strategy %s inline %v", c.name, st.Type, b.Spec.Source.Dockerfile != nil)
		}
		if c.strategy == buildv1.DockerBuildStrategyType && st.DockerStrategy.DockerfilePath != c.path {
			t.Errorf("%s: dockerfilePath %q want %q", c.name, st.DockerStrategy.DockerfilePath, c.path)
		}
		if c.strategy == buildv1.SourceBuildStrategyType &&
			(st.SourceStrategy.From.Kind != "DockerImage" || st.SourceStrategy.From.Name != "registry.access.redhat.com/ubi9/python-311") {
			t.Errorf("%s: from %+v", c.name, st.SourceStrategy.From)
		}
		if b.Spec.Source.SourceSecret != nil {
			t.Errorf("%s: sourceSecret without credentialsSecret", c.name)
		}
	}
}

func TestOutputAndErrors(t *testing.T) {
	b, err := Build(newJob(v1alpha1.BuildConfigSpec{StrategyConfig: map[string]string{"outputImage": "quay.io/me/{name}:{uid}", "serviceAccount": "pusher"}}, ""), "n", Options{OutputImage: "ignored/{name}"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Spec.Output.To.Kind != "DockerImage" || b.Spec.Output.To.Name != "quay.io/me/nb1:0f1e2d3c" || b.Spec.ServiceAccount != "pusher" {
		t.Errorf("output %+v sa %q", b.Spec.Output.To, b.Spec.ServiceAccount)
	}
	b, _ = Build(newJob(v1alpha1.BuildConfigSpec{}, ""), "n", Options{OutputImage: "reg.local/{namespace}/{name}"})
	if b.Spec.Output.To.Name != "reg.local/team-a/nb1" {
		t.Errorf("options output = %+v", b.Spec.Output.To)
	}
	for name, bc := range map[string]v1alpha1.BuildConfigSpec{
		"traversal dockerfile": {Dockerfile: "../../Dockerfile", PreferDockerfile: true},
		"traversal sources":    {RequirementsSources: []string{"/etc/passwd"}},
		"bad timeout":          {Timeout: "-1m"},
		"bad output":           {StrategyConfig: map[string]string{"outputImage": "a b"}},
	} {
		if _, err := Build(newJob(bc, ""), "n", Options{}); err == nil {
			t.Errorf("%s: Build accepted", name)
		}
		if _, err := BuildConfig(newJob(bc, ""), "n", Options{}); err == nil {
			t.Errorf("%s: BuildConfig accepted", name)
		}
	}
}

func TestBuildConfig(t *testing.T) {
	bc, err := BuildConfig(newJob(v1alpha1.BuildConfigSpec{Timeout: "90s"}, "s"), "nb1-bc", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bc.Kind != "BuildConfig" || len(bc.Spec.Triggers) != 0 || bc.Spec.RunPolicy != buildv1.BuildRunPolicySerial {
		t.Errorf("buildconfig = %+v", bc)
	}
	if *bc.Spec.CompletionDeadlineSeconds != 90 || bc.Labels[build.JobLabel] != "nb1" {
		t.Errorf("deadline %d labels %v", *bc.Spec.CompletionDeadlineSeconds, bc.Labels)
	}
}

func readBuild(t *testing.T, name string) *buildv1.Build {
	t.Helper()
	data, err := os.ReadFile("../../../test/fixtures/build/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var b buildv1.Build
	if err := yaml.UnmarshalStrict(data, &b); err != nil {
		t.Fatal(err)
	}
	return &b
}

func TestObserveFixtures(t *testing.T) {
	o := Observe(readBuild(t, "build-complete.yaml"))
	if o.State != build.StateSucceeded || o.Name != "nb1-build-7f3a" ||
		o.Image != "image-registry.openshift-image-registry.svc:5000/team-a/nb1:latest@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Errorf("complete: %+v", o)
	}
	if o.Completed.Sub(o.Started.Time) != 190*time.Second {
		t.Errorf("times %v %v", o.Started, o.Completed)
	}
	o = Observe(readBuild(t, "build-deadline.yaml"))
	if o.State != build.StateTimedOut || o.Reason != "DeadlineExceeded" || !strings.Contains(o.Message, "deadline") {
		t.Errorf("deadline: %+v", o)
	}
}

func TestObservePhases(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0a", 32)
	cases := []struct {
		status buildv1.BuildStatus
		want   build.State
		image  string
	}{
		{buildv1.BuildStatus{}, build.StatePending, ""},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhaseNew}, build.StatePending, ""},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhasePending}, build.StatePending, ""},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhaseRunning}, build.StateRunning, ""},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhaseComplete, OutputDockerImageReference: "r/ns/nb1:latest"}, build.StateSucceeded, "r/ns/nb1:latest"},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhaseComplete, OutputDockerImageReference: "r/ns/nb1:latest",
			Output: buildv1.BuildStatusOutput{To: &buildv1.BuildStatusOutputTo{ImageDigest: digest}}}, build.StateSucceeded, "r/ns/nb1:latest@" + digest},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhaseComplete}, build.StateFailed, ""},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhaseFailed, Reason: buildv1.StatusReasonDockerBuildFailed, Message: "Docker build strategy has failed."}, build.StateFailed, ""},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhaseError, Reason: buildv1.StatusReasonCannotCreateBuildPod}, build.StateFailed, ""},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhaseFailed, Reason: "BuildPodDeadlineExceeded"}, build.StateTimedOut, ""},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhaseError, Reason: "DeadlineExceeded"}, build.StateTimedOut, ""},
		{buildv1.BuildStatus{Phase: buildv1.BuildPhaseCancelled, Cancelled: true, Reason: buildv1.StatusReasonCancelledBuild}, build.StateCancelled, ""},
	}
	for _, c := range cases {
		o := Observe(&buildv1.Build{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Status: c.status})
		if o.State != c.want || o.Image != c.image || o.Name != "b" {
			t.Errorf("%s/%s: got %s %q, want %s %q", c.status.Phase, c.status.Reason, o.State, o.Image, c.want, c.image)
		}
		if c.status.Reason != "" && o.Reason != string(c.status.Reason) {
			t.Errorf("%s: reason %q", c.status.Phase, o.Reason)
		}
		if c.status.Message != "" && o.Message != c.status.Message {
			t.Errorf("%s: message %q", c.status.Phase, o.Message)
		}
	}
}
