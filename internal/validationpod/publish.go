package validationpod

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/artifact/result"
)

const (
	// PublishContainer is the sidecar (an init container with restartPolicy Always) that
	// pushes the run's record once the notebook container has ended. It alone mounts the
	// registry credential; it shares only the output directory with the notebook container,
	// read-only, and the pod shares no process namespace, so the notebook's code can reach
	// neither its files nor its environment.
	PublishContainer = "publish"
	// PublishCredentialsDir holds the installer's registry login (config.json), in publish only.
	PublishCredentialsDir = "/nbv/credentials/registry"
	// AnnotationJob and AnnotationJobUID are set on the artifact's manifest.
	AnnotationJob    = "dev.mlops.nbv.job"
	AnnotationJobUID = "dev.mlops.nbv.job-uid"

	volRegistry = "nbv-registry-credentials"
	// dockerConfigKey is the key of a kubernetes.io/dockerconfigjson Secret.
	dockerConfigKey = ".dockerconfigjson"
	// publishGrace is the pod's terminationGracePeriodSeconds when it publishes: the push runs
	// in it, after the notebook container ended. The runner's push timeout stays below it.
	publishGrace int64 = 60
)

// ArtifactOptions are the installer's registry for run records (ConfigMap
// nbv-system/nbv-artifacts, read by the functions that create validation pods).
type ArtifactOptions struct {
	// Repository is where records go, <registry>/<path>; each job's namespace is appended,
	// so a credential can be scoped to one namespace's repository. Empty: no records.
	Repository string
	// Secret names a kubernetes.io/dockerconfigjson Secret in the job's namespace holding the
	// push login, mounted into the publish container only. Empty: push anonymously.
	Secret string
	// Insecure reaches the registry over plain HTTP.
	Insecure bool
}

// ArtifactRepository is the repository a job's records go to.
func (a ArtifactOptions) ArtifactRepository(namespace string) string {
	return strings.TrimSuffix(a.Repository, "/") + "/" + namespace
}

// publishContainer is the publish sidecar of job's pod podName, with the volume it alone
// mounts; nil when the installer configured no registry.
func publishContainer(job *v1alpha1.NotebookValidationJob, podName string, opts Options) (*corev1.Container, []corev1.Volume) {
	a := opts.Artifacts
	if a.Repository == "" {
		return nil, nil
	}
	args := []string{
		"publish",
		"--output-dir", OutputDir,
		"--ref", a.ArtifactRepository(job.Namespace) + ":" + podName,
		"--annotation", AnnotationJob + "=" + job.Namespace + "/" + job.Name,
		"--annotation", AnnotationJobUID + "=" + string(job.UID),
		"--termination-log", TerminationLog,
	}
	if a.Insecure {
		args = append(args, "--insecure")
	}
	mounts := []corev1.VolumeMount{{Name: volOutput, MountPath: OutputDir, ReadOnly: true}}
	var volumes []corev1.Volume
	if a.Secret != "" {
		v := secretVolume(volRegistry, a.Secret)
		v.Secret.Items = []corev1.KeyToPath{{Key: dockerConfigKey, Path: "config.json"}}
		volumes = append(volumes, v)
		mounts = append(mounts, corev1.VolumeMount{Name: volRegistry, MountPath: PublishCredentialsDir, ReadOnly: true})
		args = append(args, "--docker-config", PublishCredentialsDir)
	}
	always := corev1.ContainerRestartPolicyAlways
	return &corev1.Container{
		Name:          PublishContainer,
		Image:         opts.RunnerImage,
		Command:       []string{RunnerBinary},
		Args:          args,
		RestartPolicy: &always,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		},
		VolumeMounts:             mounts,
		TerminationMessagePath:   TerminationLog,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		SecurityContext:          containerSecurity(),
	}, volumes
}

// publishResult reads the publish sidecar's result off a finished pod: the artifact by digest
// or why there is none; nil when the pod has no publish container.
func publishResult(pod *corev1.Pod) *v1alpha1.ArtifactStatus {
	has := false
	for _, c := range pod.Spec.InitContainers {
		has = has || c.Name == PublishContainer
	}
	cs := containerStatus(pod.Status.InitContainerStatuses, PublishContainer)
	if !has && cs == nil {
		return nil
	}
	if cs == nil || cs.State.Terminated == nil {
		return &v1alpha1.ArtifactStatus{Message: "nothing was pushed: the publish container did not run to its end"}
	}
	t := cs.State.Terminated
	r, err := result.Decode(t.Message)
	if err != nil {
		return &v1alpha1.ArtifactStatus{Message: fmt.Sprintf("nothing was pushed: the publish container ended with exit code %d and no readable result (%v); see kubectl logs -n %s %s -c %s", t.ExitCode, err, pod.Namespace, pod.Name, PublishContainer)}
	}
	return &v1alpha1.ArtifactStatus{Reference: r.Reference, ArtifactType: r.ArtifactType, Files: r.Files, Message: r.Message}
}

// publishing reports whether the pod's publish sidecar still runs.
func publishing(pod *corev1.Pod) bool {
	cs := containerStatus(pod.Status.InitContainerStatuses, PublishContainer)
	return cs != nil && cs.State.Running != nil && pod.DeletionTimestamp == nil
}
