package cli

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The hint says what is missing, and a user who may not read namespaces or RoleBindings is
// told so instead of getting an error.
func TestOptInFindings(t *testing.T) {
	ctx := context.Background()
	labelled := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{optInLabel: optInValue}}}
	one := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "nbv-job-created", Namespace: "a"}}
	got := strings.Join(optInFindings(ctx, fake.NewClientset(labelled, one), "a"), "\n")
	if !strings.Contains(got, "has the label "+optInLabel) || !strings.Contains(got, "lacks the RoleBindings nbv-pod-completed, nbv-build-status-changed, nbv-sweep") {
		t.Errorf("labelled, one RoleBinding:\n%s", got)
	}
	got = strings.Join(optInFindings(ctx, fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b"}}), "b"), "\n")
	if !strings.Contains(got, "namespace b lacks the label "+optInLabel+"="+optInValue) {
		t.Errorf("not labelled:\n%s", got)
	}

	forbidden := fake.NewClientset()
	forbidden.PrependReactor("get", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: a.GetResource().Resource}, "x", nil)
	})
	got = strings.Join(optInFindings(ctx, forbidden, "c"), "\n")
	if !strings.Contains(got, "could not check the label") || !strings.Contains(got, "could not check the RoleBindings of namespace c: you may not read them") {
		t.Errorf("forbidden:\n%s", got)
	}
}
