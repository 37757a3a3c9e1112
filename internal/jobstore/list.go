package jobstore

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// NotTerminal selects the jobs that are not finished. The CRD declares status.phase a
// selectable field, so the API server filters and finished jobs never leave it.
const NotTerminal = "status.phase!=" + v1alpha1.PhaseSucceeded + ",status.phase!=" + v1alpha1.PhaseFailed

// List reads one page of jobs in namespace ("" for every namespace) matching fieldSelector
// ("" for all), at most limit of them (0 for no limit), starting where the continue token cont
// of the previous page left off ("" for the first page). It returns the page and the token of
// the next one, "" after the last page. The API server orders jobs by namespace, then name.
//
// A token is only valid for a few minutes (until etcd compacts the revision it pins); an
// expired one is answered 410 Gone (apierrors.IsResourceExpired holds for the error).
func (s *Store) List(ctx context.Context, namespace, fieldSelector string, limit int64, cont string) ([]v1alpha1.NotebookValidationJob, string, error) {
	req := s.jobs.Get().Namespace(namespace).Resource(v1alpha1.Resource)
	if fieldSelector != "" {
		req = req.Param("fieldSelector", fieldSelector)
	}
	if limit > 0 {
		req = req.Param("limit", strconv.FormatInt(limit, 10))
	}
	if cont != "" {
		req = req.Param("continue", cont)
	}
	list := &v1alpha1.NotebookValidationJobList{}
	if err := req.Do(ctx).Into(list); err != nil {
		where := "every namespace"
		if namespace != "" {
			where = "namespace " + namespace
		}
		return nil, "", fmt.Errorf("list jobs in %s (fieldSelector %q, continue %t): %w", where, fieldSelector, cont != "", err)
	}
	return list.Items, list.Continue, nil
}

// ListNamespaces returns the namespaces matching labelSelector ("" for all).
func (s *Store) ListNamespaces(ctx context.Context, labelSelector string) ([]corev1.Namespace, error) {
	list := &corev1.NamespaceList{}
	err := s.core.Get().Resource("namespaces").Param("labelSelector", labelSelector).Do(ctx).Into(list)
	if err != nil {
		return nil, fmt.Errorf("list namespaces (labelSelector %q): %w", labelSelector, err)
	}
	return list.Items, nil
}

// HooksPending selects the finished jobs whose GitOps hooks are still to be performed. The
// CRD declares status.gitOpsHooks.state a selectable field: only such jobs leave the API server.
const HooksPending = "status.gitOpsHooks.state=" + v1alpha1.GitOpsHooksPending
