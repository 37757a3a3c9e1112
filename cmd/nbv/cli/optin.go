package cli

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// What opts a namespace in (config/rbac/opt-in/): the label v1alpha1.OptInLabel the event
// sources and the sweep select, and one RoleBinding per function, without which no function
// may act there. TestOptInRoleBindingsMatchConfig keeps these names equal to the file's.
const (
	optInLabel = v1alpha1.OptInLabel
	optInValue = v1alpha1.OptInValue
)

var optInRoleBindings = []string{"nbv-job-created", "nbv-pod-completed", "nbv-build-status-changed", "nbv-sweep"}

// printOptInHint says what keeps a job without a phase, as far as the user may read it: the
// namespace's opt-in label and the RoleBindings. A Forbidden read is not an error: it only
// means this user cannot check.
func (f *follower) printOptInHint(ctx context.Context, namespace string) {
	fix := fmt.Sprintf("kubectl label namespace %s %s=%s && kubectl apply -n %s -f config/rbac/opt-in/", namespace, optInLabel, optInValue, namespace)
	for _, line := range optInFindings(ctx, f.kube, namespace) {
		fmt.Fprintf(f.out, "          %s\n", line)
	}
	fmt.Fprintf(f.out, "          a namespace is opted in by its label %s=%s and the RoleBindings of config/rbac/opt-in/ (an administrator runs: %s)\n",
		optInLabel, optInValue, fix)
}

// optInFindings lists what is missing for namespace to be opted in, or that it could not be
// checked.
func optInFindings(ctx context.Context, kube kubernetes.Interface, namespace string) []string {
	var out []string
	ns, err := kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsForbidden(err):
		out = append(out, fmt.Sprintf("could not check the label %s of namespace %s: you may not read namespaces", optInLabel, namespace))
	case err != nil:
		out = append(out, fmt.Sprintf("could not check the label %s of namespace %s: %v", optInLabel, namespace, err))
	case ns.Labels[optInLabel] != optInValue:
		out = append(out, fmt.Sprintf("namespace %s lacks the label %s=%s", namespace, optInLabel, optInValue))
	default:
		out = append(out, fmt.Sprintf("namespace %s has the label %s=%s", namespace, optInLabel, optInValue))
	}
	var missing []string
	for _, name := range optInRoleBindings {
		_, err := kube.RbacV1().RoleBindings(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, name)
		case apierrors.IsForbidden(err):
			return append(out, fmt.Sprintf("could not check the RoleBindings of namespace %s: you may not read them", namespace))
		case err != nil:
			return append(out, fmt.Sprintf("could not check the RoleBindings of namespace %s: %v", namespace, err))
		}
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("namespace %s lacks the RoleBindings %s", namespace, strings.Join(missing, ", ")))
	} else {
		out = append(out, fmt.Sprintf("namespace %s has the opt-in RoleBindings", namespace))
	}
	return out
}
