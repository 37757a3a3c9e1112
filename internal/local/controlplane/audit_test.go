package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestParseAuditLeavesAPartialLine(t *testing.T) {
	data := []byte(`{"verb":"get","user":{"username":"a"},"objectRef":{"resource":"pods","namespace":"n"},"annotations":{"authorization.k8s.io/decision":"forbid"}}
{"verb":"list","user":{"username":"b"}}
{"verb":"crea`)
	events, err := parseAudit(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].ObjectRef.Resource != "pods" || !events[0].Forbidden() || events[1].Forbidden() {
		t.Errorf("parsed %+v, want the two complete lines, the first forbidden", events)
	}
	if _, err := parseAudit([]byte("not json\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad line: %v, want an error naming line 1", err)
	}
}

// TestAuditAndOwnerReferencePermissions: the audit log records the audited group's requests
// (allowed and forbidden) and nobody else's, and OwnerReferencesPermissionEnforcement is on: a
// user may not set blockOwnerDeletion on a reference to an object whose finalizers it may not
// update.
func TestAuditAndOwnerReferencePermissions(t *testing.T) {
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cp, err := Start(ctx, Options{NoCRDs: true, AuditUserGroups: []string{"system:serviceaccounts:audited"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	admin, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.EnsureNamespace(ctx, "audited"); err != nil {
		t.Fatal(err)
	}
	owner, err := admin.CoreV1().ConfigMaps("audited").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: "audited"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}}}
	if _, err := admin.RbacV1().Roles("audited").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: "audited"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pods"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "robot", Namespace: "audited"}}}
	if _, err := admin.RbacV1().RoleBindings("audited").Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	offset, err := cp.AuditOffset()
	if err != nil {
		t.Fatal(err)
	}
	saCfg, err := cp.ServiceAccountConfig(ctx, "audited", "robot")
	if err != nil {
		t.Fatal(err)
	}
	robot, err := kubernetes.NewForConfig(saCfg)
	if err != nil {
		t.Fatal(err)
	}
	block := true
	pod := func(name string, block *bool) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap",
				Name: owner.Name, UID: owner.UID, BlockOwnerDeletion: block}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.com/c"}}},
		}
	}
	// The RoleBinding reaches the authorizer through an informer: retry until it does.
	for {
		_, err = robot.CoreV1().Pods("audited").Create(ctx, pod("free", nil), metav1.CreateOptions{})
		if err == nil || !apierrors.IsForbidden(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create a pod with a plain ownerReference: %v", err)
	}
	_, err = robot.CoreV1().Pods("audited").Create(ctx, pod("blocking", &block), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "finalizers") {
		t.Errorf("blockOwnerDeletion without update on the owner's finalizers: %v, want 403 naming finalizers", err)
	}
	if _, err := robot.CoreV1().Secrets("audited").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list secrets: %v, want 403", err)
	}
	if _, err := admin.CoreV1().Secrets("audited").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}

	events, err := cp.ReadAudit(offset)
	if err != nil {
		t.Fatal(err)
	}
	var creates, forbidden int
	for _, e := range events {
		if e.User.Username != "system:serviceaccount:audited:robot" {
			t.Errorf("audit log holds a request of %s, outside the audited group", e.User.Username)
			continue
		}
		if e.Verb == "create" && e.ObjectRef != nil && e.ObjectRef.Resource == "pods" {
			creates++
			if len(e.RequestObject) == 0 {
				t.Errorf("create of pod %s logged without its request object", e.ObjectRef.Name)
			}
		}
		if e.Forbidden() {
			forbidden++
			if e.ObjectRef == nil || e.ObjectRef.Resource != "secrets" || e.Verb != "list" {
				t.Errorf("forbidden by the authorizer: %+v, want only the list of secrets", e)
			}
		}
	}
	if creates < 2 || forbidden != 1 {
		t.Errorf("audit log: %d pod creates and %d forbidden requests of robot, want >= 2 and 1", creates, forbidden)
	}
}
