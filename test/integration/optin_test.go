package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// TestJobOutsideOptedInNamespaceIsRefusedAtApply: config/admission/opt-in.yaml refuses a job in
// a namespace without the opt-in label, with a message that says what to do, whoever asks
// (the admin too); with the label the same job is accepted; and taking the label away later
// does not block updates of a job that exists (its finalizers must stay removable).
func TestJobOutsideOptedInNamespaceIsRefusedAtApply(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := strings.ToLower(t.Name())
	if err := cp.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	label := func(value string) {
		t.Helper()
		patch := `{"metadata":{"labels":{"` + v1alpha1.OptInLabel + `":null}}}`
		if value != "" {
			patch = `{"metadata":{"labels":{"` + v1alpha1.OptInLabel + `":"` + value + `"}}}`
		}
		if _, err := kube.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	client := jobs(t, cp, ns)

	for _, value := range []string{"", "true", "Enabled"} {
		if value != "" {
			label(value)
		}
		_, err := client.Create(ctx, sampleJob(t, "refused", ns), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			t.Fatalf("label %q: creating a job was not refused: %v", value, err)
		}
		for _, want := range []string{"namespace " + ns + " has not opted in", v1alpha1.OptInLabel + "=" + v1alpha1.OptInValue,
			"nbv-job-created", "nbv-sweep", "kubectl apply -n " + ns + " -f config/rbac/opt-in/"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("label %q: refusal %q does not say %q", value, err, want)
			}
		}
	}

	label(v1alpha1.OptInValue)
	job := sampleJob(t, "accepted", ns)
	job.SetFinalizers([]string{"example.com/hold"})
	if _, err := client.Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a job in an opted-in namespace was refused: %v", err)
	}

	label("")
	if _, err := client.Patch(ctx, "accepted", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("removing a finalizer after the namespace left was refused: %v", err)
	}
	if err := client.Delete(ctx, "accepted", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}
