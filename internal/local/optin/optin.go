// Package optin installs the functions' RBAC and opts namespaces in, exactly as a cluster
// operator does with the files of config/rbac/: the ServiceAccounts and ClusterRoles of
// functions.yaml once per cluster, then per namespace the label the event sources and the
// sweep select plus the RoleBindings of opt-in/, without which no function may act there.
package optin

import (
	"context"
	"fmt"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/serverapply"
	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// SystemNamespace holds the functions' ServiceAccounts.
const SystemNamespace = "nbv-system"

// fieldManager owns what this package applies.
const fieldManager = "nbv-optin"

// InstallRBAC applies config/namespace.yaml and config/rbac/functions.yaml under repoRoot.
func InstallRBAC(ctx context.Context, admin *rest.Config, repoRoot string) error {
	return applyFiles(ctx, admin, "", filepath.Join(repoRoot, "config", "namespace.yaml"),
		filepath.Join(repoRoot, "config", "rbac", "functions.yaml"))
}

// Namespace opts namespace in: it labels it with v1alpha1.OptInLabel and applies every file
// of config/rbac/opt-in/ in it.
func Namespace(ctx context.Context, admin *rest.Config, repoRoot, namespace string) error {
	kube, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return fmt.Errorf("optin: kube client: %w", err)
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, v1alpha1.OptInLabel, v1alpha1.OptInValue)
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, namespace, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("optin: labelling namespace %s: %w", namespace, err)
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "config", "rbac", "opt-in", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("optin: no manifests in config/rbac/opt-in under %s (%v)", repoRoot, err)
	}
	return applyFiles(ctx, admin, namespace, files...)
}

func applyFiles(ctx context.Context, admin *rest.Config, namespace string, paths ...string) error {
	for _, p := range paths {
		docs, err := yamldocs.ReadFile(p)
		if err != nil {
			return fmt.Errorf("optin: %w", err)
		}
		objs := make([]*unstructured.Unstructured, 0, len(docs))
		for _, d := range docs {
			objs = append(objs, d.Object)
		}
		if err := serverapply.Objects(ctx, admin, objs, serverapply.Options{FieldManager: fieldManager, DefaultNamespace: namespace}); err != nil {
			return fmt.Errorf("optin: %s: %w", p, err)
		}
	}
	return nil
}
