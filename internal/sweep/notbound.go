package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/metrics"
)

// ReasonNotBound is the reason of the Warning Event on a namespace that carries the opt-in
// label but where the functions may not act.
const ReasonNotBound = "NotBound"

// NotBoundEventName is the name of that Event in EventNamespace: one per namespace, so a sweep
// every minute records it once (until the API server expires it, when the next sweep records
// it again) instead of one Event a minute.
func NotBoundEventName(namespace string) string { return "nbv-not-bound." + namespace }

// NotBoundMessage says what is wrong with namespace and what to apply.
func NotBoundMessage(namespace string, refusal error) string {
	return fmt.Sprintf("namespace %s carries the label %s=%s but nbv's functions may not act there, so its jobs get no phase "+
		"(the sweep was refused: %v); apply the RoleBindings of config/rbac/opt-in/ in it: kubectl apply -n %s -f config/rbac/opt-in/",
		namespace, v1alpha1.OptInLabel, v1alpha1.OptInValue, refusal, namespace)
}

// forbiddenOnJobs says whether err is the API server refusing the sweep a job itself: what a
// namespace without the RoleBindings answers. Other refusals (Pod Security admission refusing
// a validation pod, a quota) are the job's own trouble, not the namespace's.
func forbiddenOnJobs(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsForbidden(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Group == v1alpha1.SchemeGroupVersion.Group && d.Kind == v1alpha1.Resource
}

// reportNotBound records a NotBound Event for each swept namespace in refused (the sweep was
// forbidden to examine a job there) and returns how many it reported. Failures are logged:
// the next sweep tries again.
func (s *Sweeper) reportNotBound(ctx context.Context, swept []corev1.Namespace, refused map[string]error, log *slog.Logger) int {
	reported := 0
	for i := range swept {
		ns := &swept[i]
		err, ok := refused[ns.Name]
		if !ok {
			continue
		}
		reported++
		metrics.RecordRefusal(ctx, ReasonNotBound)
		log.Warn("sweep: namespace has the opt-in label but not the functions' RoleBindings", "namespace", ns.Name, "error", err)
		if err := s.store.RecordNamespaceEvent(ctx, EventNamespace, ns, NotBoundEventName(ns.Name),
			corev1.EventTypeWarning, ReasonNotBound, NotBoundMessage(ns.Name, err)); err != nil {
			log.Warn("sweep: recording the NotBound event failed", "namespace", ns.Name, "error", err)
		}
	}
	return reported
}
