package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/mlops-dev/nbv/internal/validationpod"
)

// logs reads the pod status names, else the newest pod labelled with the job; a job without
// a pod is an error saying so.
func TestValidationPodName(t *testing.T) {
	ctx := context.Background()
	pod := func(name string, age time.Duration) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{validationpod.LabelJob: "j"},
			CreationTimestamp: metav1.NewTime(time.Now().Add(-age))}}
	}
	kube := fake.NewClientset(pod("j-1-validation", time.Hour), pod("j-2-validation", time.Minute))
	job := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "j", "namespace": "ns"}}}
	if name, err := validationPodName(ctx, kube, job); err != nil || name != "j-2-validation" {
		t.Errorf("labelled pods: %q, %v; want the newest, j-2-validation", name, err)
	}
	_ = unstructured.SetNestedField(job.Object, "named-in-status", "status", "validationPodName")
	if name, _ := validationPodName(ctx, kube, job); name != "named-in-status" {
		t.Errorf("status names the pod: got %q", name)
	}
	var out bytes.Buffer
	if err := printPodLog(ctx, kube, job, validationpod.NotebookContainer, false, &out); err != nil || out.String() != "fake logs" {
		t.Errorf("log: %q, %v", out.String(), err)
	}
	none := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "other", "namespace": "ns"},
		"status": map[string]any{"phase": "Building"}}}
	if _, err := validationPodName(ctx, kube, none); err == nil || !strings.Contains(err.Error(), `has no validation pod yet (phase "Building")`) {
		t.Errorf("no pod: %v", err)
	}
}
