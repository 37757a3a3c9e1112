package validationpod

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/internal/runner/redact"
)

const (
	// EnvSecretNames lists, comma-separated, the names of the notebook container's variables
	// set from a Secret (secretKeyRef), so the runner can mask their values in what it writes.
	// It holds names only, never a value.
	EnvSecretNames = redact.EnvNames
	// RedactDir holds one read-only mount per Secret behind envFrom and podConfig.credentials,
	// in the notebook container only, which already has their keys as variables: the runner
	// reads them to mask the values (the keys of an envFrom Secret are not known to the pod
	// spec, so a list of names cannot cover them).
	RedactDir = "/nbv/redact"
	// redactFileMode lets the notebook container's user, whoever it is, read the files: they
	// hold nothing the container does not already have in its environment.
	redactFileMode  int32 = 0o444
	volRedactPrefix       = "nbv-redact-"
)

// redaction tells the runner in the notebook container where the secret values of its env and
// envFrom are: the variable EnvSecretNames (nil when no variable comes from a Secret), one
// optional Secret volume and mount per distinct envFrom Secret, and the runner's
// --secret-dir arguments naming those mounts.
func redaction(env []corev1.EnvVar, envFrom []corev1.EnvFromSource) (*corev1.EnvVar, []corev1.Volume, []corev1.VolumeMount, []string) {
	var names []string
	for _, e := range env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			names = append(names, e.Name)
		}
	}
	var secretEnv *corev1.EnvVar
	if len(names) > 0 {
		secretEnv = &corev1.EnvVar{Name: EnvSecretNames, Value: strings.Join(names, ",")}
	}
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	var args []string
	seen := map[string]bool{}
	for _, ef := range envFrom {
		if ef.SecretRef == nil || ef.SecretRef.Name == "" || seen[ef.SecretRef.Name] {
			continue
		}
		seen[ef.SecretRef.Name] = true
		i := len(volumes)
		name, dir := fmt.Sprintf("%s%d", volRedactPrefix, i), path.Join(RedactDir, fmt.Sprint(i))
		// Optional: a missing Secret is reported by envFrom itself (or allowed by it).
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: ef.SecretRef.Name, DefaultMode: ptr(redactFileMode), Optional: ptr(true)}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: dir, ReadOnly: true})
		args = append(args, "--secret-dir", dir)
	}
	return secretEnv, volumes, mounts, args
}
