package localstack

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// resolveConfigMapEnv returns env with every configMapKeyRef replaced by the key's value, read
// from the function's namespace as the kubelet does when it starts a container (with its own
// rights, not the pod's). A missing optional ConfigMap or key leaves the variable unset; a
// missing required one is an error, as a container would not start.
func resolveConfigMapEnv(ctx context.Context, kube kubernetes.Interface, namespace string, env []corev1.EnvVar) ([]corev1.EnvVar, error) {
	out := make([]corev1.EnvVar, 0, len(env))
	read := map[string]*corev1.ConfigMap{}
	for _, e := range env {
		ref := e.ValueFrom
		if ref == nil || ref.ConfigMapKeyRef == nil {
			out = append(out, e)
			continue
		}
		r := ref.ConfigMapKeyRef
		cm, seen := read[r.Name]
		if !seen {
			got, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, r.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return nil, fmt.Errorf("env %s: get ConfigMap %s/%s: %w", e.Name, namespace, r.Name, err)
			default:
				cm = got
			}
			read[r.Name] = cm
		}
		v, ok := "", false
		if cm != nil {
			v, ok = cm.Data[r.Key]
		}
		if !ok {
			if r.Optional != nil && *r.Optional {
				continue
			}
			return nil, fmt.Errorf("env %s: ConfigMap %s/%s has no key %s, and the reference is not optional", e.Name, namespace, r.Name, r.Key)
		}
		out = append(out, corev1.EnvVar{Name: e.Name, Value: v})
	}
	return out, nil
}
