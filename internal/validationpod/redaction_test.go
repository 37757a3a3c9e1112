package validationpod

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The notebook container tells its runner where its secret values are, never what they are:
// the names of the variables set from a Secret, and one read-only, optional mount per Secret
// behind envFrom and credentials (each once), named by --secret-dir. Prepare gets none of it.
func TestRedaction(t *testing.T) {
	job := everyFieldJob() // env API_TOKEN from a secretKeyRef; credentials aws-credentials, hf-token
	job.Spec.PodConfig.EnvFrom = append(job.Spec.PodConfig.EnvFrom,
		corev1.EnvFromSource{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
		corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "hf-token"}}})
	pod, err := Build(job, "p", userImage, Options{RunnerImage: runnerImage})
	if err != nil {
		t.Fatal(err)
	}
	nb := pod.Spec.Containers[0]
	var names string
	for _, e := range nb.Env {
		if e.Name == EnvSecretNames {
			names = e.Value
		}
	}
	if names != "API_TOKEN" {
		t.Errorf("%s = %q, want the one secretKeyRef variable", EnvSecretNames, names)
	}
	secretOf := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, volRedactPrefix) {
			if v.Secret == nil || v.Secret.Optional == nil || !*v.Secret.Optional {
				t.Errorf("volume %s is not an optional Secret volume", v.Name)
				continue
			}
			secretOf[v.Name] = v.Secret.SecretName
		}
	}
	var mounted []string
	for _, m := range nb.VolumeMounts {
		if s, ok := secretOf[m.Name]; ok {
			mounted = append(mounted, s)
			if !m.ReadOnly || !strings.HasPrefix(m.MountPath, RedactDir+"/") || !slices.Contains(nb.Args, m.MountPath) {
				t.Errorf("mount %+v: want read-only under %s and named by --secret-dir in %q", m, RedactDir, nb.Args)
			}
		}
	}
	slices.Sort(mounted)
	if want := []string{"aws-credentials", "db", "hf-token"}; !slices.Equal(mounted, want) {
		t.Errorf("mounted for redaction: %v, want %v once each", mounted, want)
	}
	for _, m := range pod.Spec.InitContainers[0].VolumeMounts {
		if strings.HasPrefix(m.Name, volRedactPrefix) {
			t.Errorf("prepare mounts %s", m.Name)
		}
	}
}
