package validationpod

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/internal/runner/summary"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// The notebook is user code: nothing of the notebook container's spec leads to the registry
// credential. It is a volume mounted by the publish sidecar alone; the notebook container has
// no mount, env or envFrom naming it, shares no process namespace with publish, and gets only
// the output directory in common with it (read-only on publish's side).
func TestNotebookContainerCannotReachThePushCredential(t *testing.T) {
	for _, job := range []string{"minimal", "every field"} {
		j := minimalJob()
		if job == "every field" {
			j = everyFieldJob()
		}
		pod, err := Build(j, statemachine.PodName(j, 0), userImage, Options{RunnerImage: runnerImage, Artifacts: testArtifacts})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace {
			t.Errorf("%s: the pod shares its process namespace", job)
		}
		var credVolume string
		for _, v := range pod.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == testArtifacts.Secret {
				if credVolume != "" {
					t.Errorf("%s: two volumes of the credential", job)
				}
				credVolume = v.Name
			}
			if v.Projected != nil {
				for _, s := range v.Projected.Sources {
					if s.Secret != nil && s.Secret.Name == testArtifacts.Secret {
						t.Errorf("%s: projected volume %s holds the credential", job, v.Name)
					}
				}
			}
		}
		if credVolume == "" {
			t.Fatalf("%s: no credential volume", job)
		}
		var publish *corev1.Container
		for i, c := range pod.Spec.InitContainers {
			if c.Name == PublishContainer {
				publish = &pod.Spec.InitContainers[i]
			}
		}
		if publish == nil || publish.RestartPolicy == nil || *publish.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Fatalf("%s: publish is not a sidecar: %+v", job, publish)
		}
		if publish.Image != runnerImage {
			t.Errorf("%s: publish runs %s, not the runner image", job, publish.Image)
		}
		if len(publish.Env) != 0 || len(publish.EnvFrom) != 0 {
			t.Errorf("%s: publish has env %v %v", job, publish.Env, publish.EnvFrom)
		}
		for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
			mounted := false
			for _, m := range c.VolumeMounts {
				if m.Name == credVolume {
					mounted = true
				}
				if c.Name == PublishContainer && m.Name == volOutput && !m.ReadOnly {
					t.Errorf("%s: publish may write the output directory", job)
				}
			}
			if mounted != (c.Name == PublishContainer) {
				t.Errorf("%s: container %s mounts the credential: %v", job, c.Name, mounted)
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == testArtifacts.Secret {
					t.Errorf("%s: container %s has env %s from the credential", job, c.Name, e.Name)
				}
				if strings.Contains(e.Value, PublishCredentialsDir) {
					t.Errorf("%s: container %s env %s names the credential's path", job, c.Name, e.Name)
				}
			}
			for _, e := range c.EnvFrom {
				if e.SecretRef != nil && e.SecretRef.Name == testArtifacts.Secret {
					t.Errorf("%s: container %s takes envFrom the credential", job, c.Name)
				}
			}
		}
		if !slices.Contains(publish.Args, "team-a") && !slices.ContainsFunc(publish.Args, func(a string) bool {
			return strings.HasPrefix(a, "registry.example.com/nbv-runs/team-a:"+pod.Name)
		}) {
			t.Errorf("publish pushes to %v, not the namespace's repository", publish.Args)
		}
	}
}

func TestNoRegistryNoPublish(t *testing.T) {
	pod, err := Build(minimalJob(), "p", userImage, Options{RunnerImage: runnerImage})
	if err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.InitContainers) != 1 || pod.Spec.TerminationGracePeriodSeconds != nil {
		t.Errorf("without a registry the pod has %d init containers, grace %v", len(pod.Spec.InitContainers), pod.Spec.TerminationGracePeriodSeconds)
	}
}

// A finished pod's publish result becomes the outcome's artifact: the digest, or why not.
func TestClassifyReadsThePublishResult(t *testing.T) {
	ref := "registry.example.com/nbv-runs/team-a@sha256:" + strings.Repeat("0a", 32)
	passed := encode(t, summary.Summary{Result: summary.ResultPassed, Reason: summary.ReasonPassed, Message: "passed",
		Cells: summary.Counts{Total: 1, Passed: 1}})
	build := func(publish corev1.ContainerStatus, phase corev1.PodPhase) *corev1.Pod {
		j := minimalJob()
		pod, err := Build(j, "p", userImage, Options{RunnerImage: runnerImage, Artifacts: testArtifacts})
		if err != nil {
			t.Fatal(err)
		}
		pod.Status = corev1.PodStatus{Phase: phase, InitContainerStatuses: []corev1.ContainerStatus{prepareDone(), publish},
			ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 0, "Completed", passed)}}
		return pod
	}
	o := Classify(build(terminated(PublishContainer, 0, "Completed", `{"reference":"`+ref+`","artifactType":"application/vnd.nbv.report.v1+json","files":["executed.ipynb","report.html"]}`), corev1.PodSucceeded))
	if o.State != StateSucceeded || o.Artifact == nil || o.Artifact.Reference != ref || len(o.Artifact.Files) != 2 {
		t.Fatalf("outcome %+v artifact %+v", o, o.Artifact)
	}
	o = Classify(build(terminated(PublishContainer, 0, "Completed", `{"message":"pushing failed: 401"}`), corev1.PodSucceeded))
	if o.State != StateSucceeded || o.Artifact == nil || o.Artifact.Reference != "" || o.Artifact.Message != "pushing failed: 401" {
		t.Fatalf("failed push: %+v", o.Artifact)
	}
	o = Classify(build(terminated(PublishContainer, 137, "Error", ""), corev1.PodSucceeded))
	if o.Artifact == nil || !strings.Contains(o.Artifact.Message, "exit code 137 and no readable result") {
		t.Fatalf("killed publish: %+v", o.Artifact)
	}
	// While the sidecar pushes, the pod is still Running: no verdict, no artifact yet.
	running := build(corev1.ContainerStatus{Name: PublishContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}, corev1.PodRunning)
	if o := Classify(running); o.Terminal() || o.Artifact != nil {
		t.Fatalf("running pod: %+v", o)
	}
	// A kubelet that reports the pod Succeeded while the sidecar still pushes: not yet.
	early := build(corev1.ContainerStatus{Name: PublishContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}, corev1.PodSucceeded)
	if o := Classify(early); o.Terminal() || o.Reason != ReasonPublishing {
		t.Fatalf("terminal pod with its sidecar running: %+v", o)
	}
	// No registry configured: no artifact at all.
	pod, _ := Build(minimalJob(), "p", userImage, Options{RunnerImage: runnerImage})
	pod.Status = corev1.PodStatus{Phase: corev1.PodSucceeded, InitContainerStatuses: []corev1.ContainerStatus{prepareDone()},
		ContainerStatuses: []corev1.ContainerStatus{terminated(NotebookContainer, 0, "Completed", passed)}}
	if o := Classify(pod); o.State != StateSucceeded || o.Artifact != nil {
		t.Fatalf("no registry: %+v", o)
	}
}
